-- ARGV: prefix, ws, attendee (kick, leave). Returns {status, attendee JSON}.
local ws, at = ARGV[2], ARGV[3]
local k = wskey(ws)
if redis.call('EXISTS', k) == 0 then return {'notfound', ''} end
redis.call('HDEL', k .. ':lapsed', at)
local a = redis.call('HGET', k .. ':at', at)
if not a then return {'none', ''} end
redis.call('HDEL', k .. ':at', at)
redis.call('DECR', P .. ':attendees')
drop_holders(ws, at)
invalidate(ws)
mark_if_empty(ws)
return {'ok', a}
