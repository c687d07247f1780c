'use strict';
// Issue #11: starting in cluster mode. A node refuses to start when Redis is
// unreachable or when it would sign with random development secrets; a node
// that starts says so on /health and /metrics, registers itself in Redis
// under its prefix (a heartbeat with a TTL, the set of live nodes), and keeps
// every key and channel it uses under that prefix.

const { it, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { performance } = require('node:perf_hooks');
const L = require('../harness.js');
const R = require('../redis.js');
const C = require('./lib.js');

const T = C.clusters(afterEach);
const H = L.tracked(afterEach);
let redis;
after(async () => { if (redis) await redis.stop(); });

const UNREACHABLE = {
  'a closed port': async () => ({ url: `redis://127.0.0.1:${await R.freePort()}/0`, done: async () => {} }),
  'a Redis that accepts connections and never answers (SIGSTOP)': async () => {
    const r = await R.startRedis({ aof: false });
    r.pause();
    return { url: r.url, done: () => r.stop() };
  },
};
for (const [what, make] of Object.entries(UNREACHABLE)) {
  it(`REDIS_URL pointing at ${what}: the node refuses to start within ~5 s, naming REDIS_URL`, async (t) => {
    const target = await make();
    try {
      const t0 = performance.now();
      await L.expectRefusedStart({ env: { REDIS_URL: target.url }, config: { ...C.FAST }, mentions: 'REDIS_URL' });
      const ms = performance.now() - t0;
      t.diagnostic(`refused after ${Math.round(ms)} ms`);
      assert.ok(ms <= 6000, `refused after ${Math.round(ms)} ms (about 5 s at most)`);
    } finally {
      await target.done();
    }
  });
}

it('REDIS_URL pointing at a Redis without sharded pub/sub (as before Redis 7: SPUBLISH renamed away): the node refuses to start, naming REDIS_URL and Redis 7', async () => {
  const old = await R.startRedis({ aof: false, args: ['--rename-command', 'SPUBLISH', ''] });
  try {
    const srv = await L.expectRefusedStart({ env: { REDIS_URL: old.url }, config: { ...C.FAST }, mentions: 'REDIS_URL' });
    assert.match(srv.stderr(), /Redis 7 or later is required/, srv.stderr());
  } finally {
    await old.stop();
  }
});

it('REDIS_URL with the random secrets of development mode: the node refuses to start, naming MAGICK_TOKEN and REDIS_URL', async () => {
  redis = redis || await R.startRedis({ aof: false });
  const srv = await L.expectRefusedStart({ env: { REDIS_URL: redis.url }, secrets: null, config: { ...C.FAST }, mentions: 'MAGICK_TOKEN' });
  assert.ok(srv.stderr().includes('REDIS_URL'), `stderr names REDIS_URL too:\n${srv.stderr()}`);
  assert.deepEqual(await redis.keys(''), [], 'it wrote nothing to Redis');
});

it('without REDIS_URL nothing changes: /health says cluster false, wrw_cluster_mode is 0', async () => {
  const srv = await H.start({});
  const h = await L.health(srv);
  assert.equal(h.cluster, false);
  assert.equal(h.status, 'ok');
  assert.equal(typeof h.node_id, 'string');
  assert.equal(await L.readMetric(srv.url, 'wrw_cluster_mode'), 0);
});

it('a node in cluster mode: /health and /metrics say so; it registers under its prefix, and uses nothing outside it', async () => {
  redis = redis || await R.startRedis({ aof: false });
  const cluster = await T.start({ nodes: 2, redis });
  const [A, B] = cluster.nodes;
  for (const n of cluster.nodes) {
    const h = await L.health(n);
    assert.equal(h.status, 'ok');
    assert.equal(h.cluster, true);
    assert.equal(h.node_id, n.nodeId);
    assert.equal(h.redis.reachable, true);
    assert.equal(h.redis.error, null);
    assert.ok(typeof h.redis.latency_ms === 'number' && h.redis.latency_ms >= 0 && h.redis.latency_ms < 1000, `latency_ms ${h.redis.latency_ms}`);
    const m = await L.scrape(n.url);
    assert.equal(L.metric(m, 'wrw_cluster_mode'), 1);
    assert.equal(L.metric(m, 'wrw_redis_up'), 1);
    const lat = L.metric(m, 'wrw_redis_latency_seconds');
    assert.ok(typeof lat === 'number' && lat >= 0 && lat < 1, `wrw_redis_latency_seconds ${lat}`);
  }
  // Some traffic, so that the keys of workspaces, members and limits exist too.
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'prefixed', pin: '1' });
  await C.attendOn(T, B, L.V2_POLL, owner.W, { pin: '1', others: [owner] });
  const wrong = await T.conn(B, L.V4_WS, 'wrong-pin');
  assert.equal((await L.attend(wrong, owner.W.token, 'nope')).event, 'alert');

  const { prefix } = cluster;
  const dump = await cluster.dump();
  for (const n of cluster.nodes) {
    const beat = dump[`${prefix}:node:${n.nodeId}`];
    assert.ok(beat, `${prefix}:node:${n.nodeId} exists; keys: ${Object.keys(dump).join(' ')}`);
    assert.ok(beat.ttl > 0 && beat.ttl <= 3 * C.FAST.cluster_heartbeat_ms + 1000, `the heartbeat key has a TTL: ${beat.ttl} ms`);
  }
  assert.deepEqual(dump[`${prefix}:nodes`] && dump[`${prefix}:nodes`].value, [A.nodeId, B.nodeId].sort(), `${prefix}:nodes lists the live nodes`);
  // Every key in this Redis (nobody else uses it) and every channel starts with the prefix.
  const all = await redis.keys('');
  assert.deepEqual(all.filter((k) => !k.startsWith(`${prefix}:`)), [], 'keys outside the prefix');
  assert.ok(all.length > 3, `keys: ${all.join(' ')}`);
  const channels = await redis.channels('*');
  assert.deepEqual(channels.filter((c) => !c.startsWith(`${prefix}:`) && !c.startsWith(`${prefix}-sio`)), [], 'channels outside the prefix');
  assert.ok(channels.some((c) => c.startsWith(`${prefix}-sio`)), `the adapter's channels: ${channels.join(' ')}`);
});
