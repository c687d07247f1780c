-- ARGV: prefix, ws, attendee id, attendee JSON, capacity. Capacity check and insert in one step.
local ws, at, json, cap = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local k = wskey(ws)
if redis.call('EXISTS', k) == 0 then return {'notfound', {}, {}, {}} end
if redis.call('HEXISTS', k .. ':at', at) == 0 then
  if redis.call('HLEN', k .. ':at') >= cap then return {'full', {}, {}, {}} end
  redis.call('INCR', P .. ':attendees')
end
redis.call('HSET', k .. ':at', at, json)
return dump(ws)
