'use strict';
// Helpers for the multi-node tests (issue #11): a cluster of N server nodes
// (the harness's one spawner) sharing one real redis-server (../redis.js),
// the members of a workspace as the tests hold them, and the few checks every
// cluster test file makes. Spawning, clients, waits and HTTP are the harness's.

const crypto = require('node:crypto');
const assert = require('node:assert/strict');
const { performance } = require('node:perf_hooks');
const L = require('../harness.js');
const R = require('../redis.js');
const E = require('../events.js');

// The alert of the contract for events that need Redis while it is away.
const SHARED_STATE = 'The server cannot reach its shared state right now; please try again in a moment.';

// Small timings so that the suite stays fast (the contract's defaults are 1000 ms / 60 s).
const FAST = { cluster_heartbeat_ms: 300, presence_grace_secs: 1 };

const rand = (n = 4) => crypto.randomBytes(n).toString('hex');

// Starts `nodes` server nodes on one Redis: the same secrets for all,
// REDIS_URL, node ids n1-<random>, n2-<random>..., one redis_prefix for this
// cluster. `redis`: a handle from startRedis (shared, left running by stop);
// without it the cluster starts its own (stopped with it). `config` goes to
// every node over FAST; `perNode(i)` adds keys for node i (0-based); `env`:
// environment for every node besides REDIS_URL (e.g. OPERATOR_API_KEYS,
// WEBHOOK_SECRET). Returns {redis, nodes: [srv...] (each with nodeId),
// prefix, secrets, nodeOptions(i), spawnNode(i?), dump(), stop()}.
async function startCluster({ nodes = 3, config = {}, perNode = () => ({}), env = {}, redis = null, secrets = L.newSecrets(), rustLog } = {}) {
  const ownRedis = !redis;
  if (ownRedis) redis = await R.startRedis({ aof: true });
  const prefix = `wrwt${rand()}`;
  const tag = rand(3);
  const cluster = { redis, prefix, secrets, nodes: [], ownRedis, config };

  // A node's options (its node_id unless perNode says otherwise).
  const nodeOptions = (i) => ({
    config: { ...FAST, ...config, node_id: `n${i + 1}-${tag}`, redis_prefix: prefix, ...perNode(i) },
    env: { ...env, REDIS_URL: redis.url },
    secrets,
    ...(rustLog ? { rustLog } : {}),
  });
  cluster.nodeOptions = nodeOptions;

  // Starts node i (its config; default: one more node), resolves once it listens.
  cluster.spawnNode = async (i = cluster.nodes.length) => {
    const opts = nodeOptions(i);
    const srv = await L.startServer(opts);
    srv.nodeId = opts.config.node_id;
    srv.label = `node${i + 1}`;
    cluster.nodes[i] = srv;
    return srv;
  };

  const started = await Promise.allSettled(Array.from({ length: nodes }, (_, i) => cluster.spawnNode(i)));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(cluster.nodes.filter(Boolean).map((s) => s.destroy()));
    if (ownRedis) await redis.stop();
    throw failed.reason;
  }

  cluster.dump = () => redis.dumpKeys(prefix);

  cluster.stop = async () => {
    await Promise.all(cluster.nodes.map((s) => s.destroy()));
    if (ownRedis) await redis.stop();
  };
  return cluster;
}

// The tracked() of the cluster tests: clusters and sockets made through it
// are closed/stopped by `hook` (afterEach, or after for a file-wide cluster).
function clusters(hook) {
  const made = [];
  const sockets = [];
  hook(async () => {
    L.close(sockets.splice(0));
    for (const c of made.splice(0)) await c.stop();
  });
  return {
    async start(opts) {
      const c = await startCluster(opts);
      made.push(c);
      return c;
    },
    async conn(srv, variant, label, extra) {
      srv.assertAlive();
      const s = await L.connect(srv.url, variant, label, extra);
      s.__node = srv;
      sockets.push(s);
      return s;
    },
    sockets,
  };
}

// GET /health with a bound, whatever the status: {status, body (parsed JSON
// or the text), ms (how long the answer took)}.
async function healthOf(srv, timeout = 2000) {
  const t0 = performance.now();
  const r = await L.get(`${srv.url}/health`, { timeout });
  const ms = performance.now() - t0;
  let body = r.body;
  try { body = JSON.parse(r.body); } catch (_) { /* not JSON: keep the text */ }
  return { status: r.status, body, ms };
}

// ---------------------------------------------------------------------------
// Members: {sock, W, me, token}, as events.js's payload builders take them.

function member(sock, reply) {
  return { sock, W: reply.workspace, me: reply.attendee, token: reply.accessToken, reply };
}

async function createOn(T, srv, variant, opts = {}) {
  const { label = 'owner' } = opts;
  const sock = await T.conn(srv, variant, label);
  return member(sock, await L.create(sock, opts));
}

// Attends W (its token) from a new socket on srv; `others` must each see the `attend`.
async function attendOn(T, srv, variant, W, { name = 'guest', pin = '', others = [], label = name } = {}) {
  const sock = await T.conn(srv, variant, label);
  const g = await L.attendOk(sock, W.token, pin, name);
  for (const o of others) assert.deepEqual(await L.waitFor(o.sock, 'attend'), g.attendee, `${o.sock.__label} sees ${name} attend`);
  return member(sock, g);
}

const attendeesMap = (...ms) => Object.fromEntries(ms.map((m) => [m.me.id, { ...m.me }]));

// The `attendees` request of member m (any reply).
async function attendeesOf(m, timeout = L.DEFAULT_TIMEOUT) {
  return L.ask(m.sock, 'attendees', E.PAYLOADS.attendees.build({ W: m.W, s: m }), { timeout });
}

// The event the receivers of an event get (the same name unless listed).
const RECEIVED_AS = { kick: 'kicked', destroy: 'destroyed' };

// Emits `event` (payload built by events.js, or `payload`) from `from`, then
// expects exactly the `expected` entries [[member, payload]] (of the event
// receivers get, RECEIVED_AS) and nothing else on any socket of `all` (a
// quiet() barrier on each).
async function relay(from, event, { to = null, payload, expected, all }) {
  const received = RECEIVED_AS[event] || event;
  const sent = payload || E.PAYLOADS[event].build({ W: from.W, s: from, t: to });
  const m = L.mark(all.map((x) => x.sock));
  from.sock.emit(event, sent);
  const seen = [];
  for (const [x, want] of expected) {
    const e = await L.nextEntry(x.sock, received, { since: m.get(x.sock), after: ` (${event} from ${from.sock.__label})` });
    assert.deepEqual(e.payload, want, `${x.sock.__label} receives ${received} (${event} from ${from.sock.__label}) intact`);
    seen.push(e);
  }
  await L.quiet(m, seen);
  return sent;
}

// Where `needle` occurs in a dumpKeys() result: ["key name", "key member x"...].
function occurrences(dump, needle) {
  const out = [];
  for (const [key, { value }] of Object.entries(dump)) {
    if (key.includes(needle)) out.push(`key name ${key}`);
    const text = JSON.stringify(value);
    if (text && text.includes(needle)) out.push(`in ${key}: ${text.slice(0, 300)}`);
  }
  return out;
}

module.exports = {
  SHARED_STATE, FAST, rand, startCluster, clusters, healthOf,
  member, createOn, attendOn, attendeesMap, attendeesOf, relay, occurrences,
};
