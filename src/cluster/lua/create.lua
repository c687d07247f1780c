-- ARGV: prefix, ws, owner id, owner JSON, then field/value pairs of the hash.
local ws, owner, owner_json = ARGV[2], ARGV[3], ARGV[4]
local k = wskey(ws)
if redis.call('EXISTS', k) == 1 then return 'collision' end
for i = 5, #ARGV, 2 do redis.call('HSET', k, ARGV[i], ARGV[i + 1]) end
redis.call('HSET', k .. ':at', owner, owner_json)
redis.call('SADD', P .. ':workspaces', ws)
redis.call('INCR', P .. ':attendees')
redis.call('ZADD', P .. ':empty', now_ms(), ws)
return 'ok'
