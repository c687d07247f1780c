-- ARGV: prefix, ip|ws counter, ws counter, max per ip, max per ws. 1: a PIN may be tried.
local by_ip = tonumber(redis.call('GET', P .. ':lim:' .. ARGV[2]) or '0')
local by_ws = tonumber(redis.call('GET', P .. ':lim:' .. ARGV[3]) or '0')
if by_ip < tonumber(ARGV[4]) and by_ws < tonumber(ARGV[5]) then return 1 end
return 0
