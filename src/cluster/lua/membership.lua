-- ARGV: prefix, ws, attendee. 0: no workspace, 1: not a member, 2: member, 3: owner.
local k = wskey(ARGV[2])
local owner = redis.call('HGET', k, 'owner')
if not owner then return 0 end
if redis.call('HEXISTS', k .. ':at', ARGV[3]) == 0 then return 1 end
if owner == ARGV[3] then return 3 end
return 2
