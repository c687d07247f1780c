-- ARGV: prefix, ws, owner id, owner JSON, node, max live workspaces, create
-- counter by address, its max, its window ms, the deadline (Redis's clock,
-- ms), then field/value pairs of the workspace's hash.
-- A whole create in one call (issue 21): the live-workspace cap, the
-- address's creates (counted only when allowed, as on one node), the insert
-- and this node's hold of the owner.
local ws, owner, owner_json, node = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
-- Run after the node stopped waiting: the client was told it failed.
if now_ms() > tonumber(ARGV[10]) then return 'late' end
if redis.call('SCARD', P .. ':workspaces') >= tonumber(ARGV[6]) then return 'live' end
local counter = P .. ':lim:' .. ARGV[7]
local created = redis.call('INCR', counter)
if created == 1 then redis.call('PEXPIRE', counter, ARGV[9]) end
if created > tonumber(ARGV[8]) then
  redis.call('DECR', counter)
  return 'limit'
end
-- Ids are fresh from the server: a collision changes nothing and is refused.
if redis.call('SADD', P .. ':workspaces', ws) == 0 then
  redis.call('DECR', counter)
  return 'collision'
end
local k = wskey(ws)
redis.call('HSET', k, unpack(ARGV, 11))
redis.call('HSET', k .. ':at', owner, owner_json)
redis.call('INCR', P .. ':attendees')
redis.call('SADD', onkey(ws, owner), node)
redis.call('SADD', P .. ':node:' .. node .. ':held', ws .. ' ' .. owner)
return 'ok'
