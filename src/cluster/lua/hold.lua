-- ARGV: prefix, node, "<ws> <at>": this node now holds a socket of the attendee.
local node = ARGV[2]
for i = 3, #ARGV do
  local ws, at = string.match(ARGV[i], '^(%S+) (%S+)$')
  if ws and redis.call('HEXISTS', wskey(ws) .. ':at', at) == 1 then
    redis.call('SADD', onkey(ws, at), node)
    redis.call('SADD', P .. ':node:' .. node .. ':held', ARGV[i])
    redis.call('ZREM', P .. ':departures', ARGV[i])
    redis.call('ZREM', P .. ':empty', ws)
  end
end
return 'ok'
