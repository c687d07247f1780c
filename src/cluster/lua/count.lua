-- ARGV: prefix, window ms, max (-1: no check), counters... Fixed windows, as on one node:
-- with a max, counts only when every counter is below it (1), else counts nothing (0).
local window, max = tonumber(ARGV[2]), tonumber(ARGV[3])
if max >= 0 then
  for i = 4, #ARGV do
    if tonumber(redis.call('GET', P .. ':lim:' .. ARGV[i]) or '0') >= max then return 0 end
  end
end
for i = 4, #ARGV do
  local key = P .. ':lim:' .. ARGV[i]
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, window) end
end
return 1
