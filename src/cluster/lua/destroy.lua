-- ARGV: prefix, ws. Returns the workspace as it was.
if redis.call('EXISTS', wskey(ARGV[2])) == 0 then return {'notfound', {}, {}, {}} end
return destroy(ARGV[2])
