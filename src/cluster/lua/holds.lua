-- ARGV: prefix, node, grace ms, then the changes of this node's holds in the
-- order it decided them: "+<ws> <at>" (it now holds a socket of the
-- attendee) or "-<ws> <at>" (its last one went: the grace starts unless
-- another node holds the attendee). One call carries every change of a few
-- milliseconds (`presence.rs`).
local node, grace = ARGV[2], tonumber(ARGV[3])
for i = 4, #ARGV do
  local op, item = string.sub(ARGV[i], 1, 1), string.sub(ARGV[i], 2)
  if op == '+' then hold_item(node, item) else release_item(node, item, grace) end
end
return 'ok'
