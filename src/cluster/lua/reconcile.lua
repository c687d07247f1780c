-- ARGV: prefix, node, grace ms, then every "<ws> <at>" the node holds now.
-- After Redis was away (or declared this node dead), what Redis records as
-- held by the node is made exactly that: what it held and let go of in the
-- meantime (a release that could not reach Redis) starts its grace now, and
-- what it holds is recorded again (which cancels a departure).
local node, grace = ARGV[2], tonumber(ARGV[3])
local held = P .. ':node:' .. node .. ':held'
local want = {}
for i = 4, #ARGV do want[ARGV[i]] = true end
for _, item in ipairs(redis.call('SMEMBERS', held)) do
  if not want[item] then release_item(node, item, grace) end
end
for i = 4, #ARGV do hold_item(node, ARGV[i]) end
return 'ok'
