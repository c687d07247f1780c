-- ARGV: prefix, node, grace ms, "<ws> <at>": this node's last socket of the attendee went.
local node, grace, item = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local ws, at = string.match(item, '^(%S+) (%S+)$')
if not ws then return 'bad' end
redis.call('SREM', onkey(ws, at), node)
redis.call('SREM', P .. ':node:' .. node .. ':held', item)
if redis.call('SCARD', onkey(ws, at)) == 0 then depart(ws, at, item, grace) end
return 'ok'
