-- ARGV: prefix, ws, attendee id, attendee JSON, capacity, offered PIN check
-- (JSON, as stored), node, then the PIN gate: counter by address, counter
-- by workspace, max of each, window ms; then the deadline (Redis's clock, ms).
-- A whole attend in one call (issue 21): the read, the PIN limit, the PIN
-- check, the capacity check and insert, and this node's hold. The refusals
-- come in the order of one node's: no workspace, locked, wrong PIN, full.
local ws, at, json, cap, offered, node = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
-- Run after the node stopped waiting (Redis was paused): the client was told
-- it failed, so nothing may happen.
if now_ms() > tonumber(ARGV[13]) then return {'late', {}, {}, {}} end
local k = wskey(ws)
local meta = redis.call('HGETALL', k)
if #meta == 0 then return {'notfound', {}, {}, {}} end
local counters = {P .. ':lim:' .. ARGV[8], P .. ':lim:' .. ARGV[9]}
local tried = redis.call('MGET', counters[1], counters[2])
if tonumber(tried[1] or '0') >= tonumber(ARGV[10]) or tonumber(tried[2] or '0') >= tonumber(ARGV[11]) then
  return {'locked', {}, {}, {}}
end
local pin
for i = 1, #meta, 2 do
  if meta[i] == 'pin' then pin = meta[i + 1] end
end
-- An imported workspace (its check is a marker object): the node checks its PIN.
if not pin or string.sub(pin, 1, 1) ~= '"' then return dump(ws) end
-- Compared as digests, so the time the comparison takes says nothing about
-- the stored value.
if redis.sha1hex(pin) ~= redis.sha1hex(offered) then
  for _, c in ipairs(counters) do
    if redis.call('INCR', c) == 1 then redis.call('PEXPIRE', c, ARGV[12]) end
  end
  return {'wrongpin', {}, {}, {}}
end
local atk = k .. ':at'
-- Read once: its length is the capacity check, and with the newcomer added
-- it is the answer (the id is fresh from the server, so not among them).
local attendees = redis.call('HGETALL', atk)
if #attendees / 2 >= cap then return {'full', {}, {}, {}} end
redis.call('HSET', atk, at, json)
redis.call('INCR', P .. ':attendees')
redis.call('SADD', onkey(ws, at), node)
redis.call('SADD', P .. ':node:' .. node .. ':held', ws .. ' ' .. at)
redis.call('ZREM', P .. ':empty', ws)
table.insert(attendees, at)
table.insert(attendees, json)
return {'joined', meta, attendees, {}}
