-- wrk script: 1 MiB Range GETs at random byte offsets inside the file, as a player seeking in
-- a video or a resumed download asks for them (not aligned to anything). RANGE_FILE_BYTES is
-- the file's size (run.sh and get.sh set it from SIZE_MIB; 1 GiB if unset).
math.randomseed(os.time())
local size = tonumber(os.getenv("RANGE_FILE_BYTES") or "1073741824")
request = function()
	local off = math.random(0, size - 1048576)
	return wrk.format(nil, nil, { ["Range"] = "bytes=" .. off .. "-" .. (off + 1048575) })
end
