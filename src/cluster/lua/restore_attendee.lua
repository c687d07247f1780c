-- ARGV: prefix, ws, attendee, capacity. A lapsed attendee back, if there is room.
local ws, at, cap = ARGV[2], ARGV[3], tonumber(ARGV[4])
local k = wskey(ws)
if redis.call('EXISTS', k) == 0 then return {'notfound', {}, {}, {}} end
local a = redis.call('HGET', k .. ':lapsed', at)
if not a then return {'none', {}, {}, {}} end
if redis.call('HLEN', k .. ':at') >= cap then return {'full', {}, {}, {}} end
redis.call('HDEL', k .. ':lapsed', at)
redis.call('HSET', k .. ':at', at, a)
redis.call('INCR', P .. ':attendees')
return dump(ws)
