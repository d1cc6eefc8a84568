-- wrk script: random 1 MiB Range GETs inside a 1 GiB file.
math.randomseed(os.time())
request = function()
	local off = math.random(0, 1023) * 1048576
	return wrk.format(nil, nil, { ["Range"] = "bytes=" .. off .. "-" .. (off + 1048575) })
end
