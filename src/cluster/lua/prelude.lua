-- Shared by every script (prepended to each). ARGV[1] is the key prefix.
-- Keys (P = prefix):
--   P:ws:<id>          hash  name avatar owner created token pin call
--   P:ws:<id>:at       hash  attendee id -> attendee JSON
--   P:ws:<id>:lapsed   hash  attendee id -> attendee JSON (grace ran out)
--   P:workspaces       set   every workspace id
--   P:attendees        count of attendees in every workspace
--   P:on:<ws>:<at>     set   nodes holding a socket of this attendee
--   P:node:<n>         heartbeat (expires), P:node:<n>:held set "<ws> <at>"
--   P:nodes            set   nodes that have registered
--   P:departures       zset  "<ws> <at>" -> when its grace ends (ms)
--   P:empty            zset  workspace -> since when no member is held (ms)
--   P:inval            channel: a workspace whose membership just shrank
local P = ARGV[1]
-- Read once per script: a script is one instant.
local clock
local function now_ms()
  if not clock then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return clock
end
local function wskey(ws) return P .. ':ws:' .. ws end
local function onkey(ws, at) return P .. ':on:' .. ws .. ':' .. at end
local function dump(ws)
  local k = wskey(ws)
  return {'ok', redis.call('HGETALL', k), redis.call('HGETALL', k .. ':at'), redis.call('HGETALL', k .. ':lapsed')}
end
-- Whether a node holds any of `ats` (attendees of ws): one EXISTS over
-- their keys (in chunks, within Lua's limit on unpacked arguments).
local function holds_any(ws, ats)
  for i = 1, #ats, 1000 do
    local keys = {}
    for j = i, math.min(i + 999, #ats) do keys[#keys + 1] = onkey(ws, ats[j]) end
    if redis.call('EXISTS', unpack(keys)) > 0 then return true end
  end
  return false
end
local function online(ws)
  return holds_any(ws, redis.call('HKEYS', wskey(ws) .. ':at'))
end
-- `ats`: the workspace's attendees, when the caller read them already.
local function mark_if_empty(ws, ats)
  ats = ats or redis.call('HKEYS', wskey(ws) .. ':at')
  -- No attendee means no workspace: its owner is always one.
  if #ats > 0 and not holds_any(ws, ats) then
    redis.call('ZADD', P .. ':empty', 'NX', now_ms(), ws)
  end
end
-- No node holds the attendee any more: if it is still a member, its grace
-- starts (`mode`: 'NX' keeps a grace already running), and the workspace
-- may have become empty. One read of the attendees serves both checks.
local function depart(ws, at, item, grace, mode)
  local ats = redis.call('HKEYS', wskey(ws) .. ':at')
  for _, a in ipairs(ats) do
    if a == at then
      if mode then
        redis.call('ZADD', P .. ':departures', mode, now_ms() + grace, item)
      else
        redis.call('ZADD', P .. ':departures', now_ms() + grace, item)
      end
      mark_if_empty(ws, ats)
      return
    end
  end
end
-- The attendee is no longer a member: forget which nodes held it.
local function drop_holders(ws, at)
  local key = onkey(ws, at)
  for _, n in ipairs(redis.call('SMEMBERS', key)) do
    redis.call('SREM', P .. ':node:' .. n .. ':held', ws .. ' ' .. at)
  end
  redis.call('DEL', key)
  redis.call('ZREM', P .. ':departures', ws .. ' ' .. at)
end
local function invalidate(ws) redis.call('PUBLISH', P .. ':inval', ws) end
local function lapse(ws, at)
  local k = wskey(ws)
  if redis.call('HGET', k, 'owner') == at then return false end
  local a = redis.call('HGET', k .. ':at', at)
  if not a then return false end
  redis.call('HDEL', k .. ':at', at)
  redis.call('HSET', k .. ':lapsed', at, a)
  redis.call('DECR', P .. ':attendees')
  drop_holders(ws, at)
  invalidate(ws)
  mark_if_empty(ws)
  return a
end
local function destroy(ws)
  local k = wskey(ws)
  local before = dump(ws)
  for _, at in ipairs(redis.call('HKEYS', k .. ':at')) do drop_holders(ws, at) end
  redis.call('DECRBY', P .. ':attendees', redis.call('HLEN', k .. ':at'))
  redis.call('DEL', k, k .. ':at', k .. ':lapsed')
  redis.call('SREM', P .. ':workspaces', ws)
  redis.call('ZREM', P .. ':empty', ws)
  invalidate(ws)
  return before
end
-- The node no longer holds "<ws> <at>": the attendee's grace starts unless
-- another node holds it (a grace already running is kept).
local function release_item(node, item, grace)
  redis.call('SREM', P .. ':node:' .. node .. ':held', item)
  local ws, at = string.match(item, '^(%S+) (%S+)$')
  if not ws then return end
  redis.call('SREM', onkey(ws, at), node)
  if redis.call('SCARD', onkey(ws, at)) == 0 then depart(ws, at, item, grace, 'NX') end
end
-- The node holds a socket of "<ws> <at>": recorded if it is still a member,
-- which cancels its departure.
local function hold_item(node, item)
  local ws, at = string.match(item, '^(%S+) (%S+)$')
  if ws and redis.call('HEXISTS', wskey(ws) .. ':at', at) == 1 then
    redis.call('SADD', onkey(ws, at), node)
    redis.call('SADD', P .. ':node:' .. node .. ':held', item)
    redis.call('ZREM', P .. ':departures', item)
    redis.call('ZREM', P .. ':empty', ws)
  end
end
-- Every attendee the node held: released, with a grace each.
local function release_all(node, grace)
  for _, item in ipairs(redis.call('SMEMBERS', P .. ':node:' .. node .. ':held')) do
    release_item(node, item, grace)
  end
  redis.call('DEL', P .. ':node:' .. node .. ':held')
  redis.call('SREM', P .. ':nodes', node)
end
