-- ARGV: prefix, node, ttl ms. Returns {1 when the node was still known alive,
-- 0 when it was not (first beat, or declared dead meanwhile: it must hold
-- again); Redis's clock (ms), which join deadlines are reckoned in}.
local node, ttl = ARGV[2], tonumber(ARGV[3])
local key = P .. ':node:' .. node
local alive = redis.call('EXISTS', key)
redis.call('SET', key, '1', 'PX', ttl)
redis.call('SADD', P .. ':nodes', node)
return {alive, now_ms()}
