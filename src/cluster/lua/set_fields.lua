-- ARGV: prefix, ws, then field/value pairs (PIN check and token, or the call).
local k = wskey(ARGV[2])
if redis.call('EXISTS', k) == 0 then return 'notfound' end
for i = 3, #ARGV, 2 do redis.call('HSET', k, ARGV[i], ARGV[i + 1]) end
return 'ok'
