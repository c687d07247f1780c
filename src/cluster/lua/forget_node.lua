-- ARGV: prefix, node, grace ms: a node leaving on purpose (shutdown).
redis.call('DEL', P .. ':node:' .. ARGV[2])
release_all(ARGV[2], tonumber(ARGV[3]))
return 'ok'
