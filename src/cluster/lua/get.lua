-- ARGV: prefix, ws.
if redis.call('EXISTS', wskey(ARGV[2])) == 0 then return {'notfound', {}, {}, {}} end
return dump(ARGV[2])
