-- ARGV: prefix, grace ms, expiry ms. Run by every node, now and then; being one
-- script, each dead node, due departure and expired workspace is handled once
-- by whichever node runs first. Returns {lapsed {ws, attendee JSON}..., expired ws...}.
local grace, expiry = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
for _, node in ipairs(redis.call('SMEMBERS', P .. ':nodes')) do
  if redis.call('EXISTS', P .. ':node:' .. node) == 0 then release_all(node, grace) end
end
local lapsed = {}
for _, item in ipairs(redis.call('ZRANGEBYSCORE', P .. ':departures', '-inf', now, 'LIMIT', 0, 200)) do
  redis.call('ZREM', P .. ':departures', item)
  local ws, at = string.match(item, '^(%S+) (%S+)$')
  if ws and redis.call('SCARD', onkey(ws, at)) == 0 then
    local a = lapse(ws, at)
    if a then table.insert(lapsed, {ws, a}) end
  end
end
local expired = {}
for _, ws in ipairs(redis.call('ZRANGEBYSCORE', P .. ':empty', '-inf', now - expiry, 'LIMIT', 0, 100)) do
  redis.call('ZREM', P .. ':empty', ws)
  if redis.call('EXISTS', wskey(ws)) == 1 and not online(ws) then
    destroy(ws)
    table.insert(expired, ws)
  end
end
return {lapsed, expired}
