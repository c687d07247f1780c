-- ARGV: prefix, ws, attendee. Returns {status, attendee JSON}.
local ws, at = ARGV[2], ARGV[3]
if redis.call('EXISTS', wskey(ws)) == 0 then return {'notfound', ''} end
local a = lapse(ws, at)
if not a then return {'none', ''} end
return {'ok', a}
