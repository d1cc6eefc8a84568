-- wrk script: 1 MiB Range GETs at random byte offsets inside a 1 GiB file, as a player
-- seeking in a video or a resumed download asks for them (not aligned to anything).
math.randomseed(os.time())
request = function()
	local off = math.random(0, 1073741824 - 1048576)
	return wrk.format(nil, nil, { ["Range"] = "bytes=" .. off .. "-" .. (off + 1048575) })
end
