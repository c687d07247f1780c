'use strict';
// Issue #11: Redis trouble. Redis paused (SIGSTOP) or shut down: the nodes
// keep running, /health turns 503 "redis_unreachable" within 2 s and never
// hangs, events that need the shared state get the shared-state alert, relays
// between two attendees of one node that relayed before still flow. Redis
// back (SIGCONT, or started again on its AOF data): /health 200 within 10 s
// and everything works across nodes again, without restarting a node or a
// client; a workspace created before the restart still takes its token.

const { it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { performance } = require('node:perf_hooks');
const { isDeepStrictEqual } = require('node:util');
const L = require('../harness.js');
const E = require('../events.js');
const C = require('./lib.js');

const T = C.clusters(afterEach);
const HEALTH_MS = 2000; // /health turns 503 within, and answers within
const ALERT_MS = 3000; // the shared-state alert comes within (about)
const RECOVER_MS = 10000; // everything works again within
const SLACK_MS = 200; // polling granularity and a busy 2-core machine

const down = (h) => h.status === 503 && h.body && h.body.status === 'redis_unreachable' && h.body.redis && h.body.redis.reachable === false;
const up = (h) => h.status === 200 && h.body && h.body.status === 'ok' && h.body.redis && h.body.redis.reachable === true;

// Polls every node's /health until `ok`; every answer must come within
// HEALTH_MS (a request that hangs fails the test). Resolves with {ms: when
// the first request answered `ok` had been sent (from t0; on every node),
// answered: when it answered, slowest: the slowest answer}.
async function healthTurns(nodes, ok, t0, timeout, what) {
  let slowest = 0;
  const sent = [];
  const answered = [];
  await Promise.all(nodes.map(async (srv) => {
    for (;;) {
      const start = performance.now();
      const h = await C.healthOf(srv, HEALTH_MS);
      slowest = Math.max(slowest, h.ms);
      if (ok(h)) {
        sent.push(start - t0);
        answered.push(performance.now() - t0);
        return;
      }
      if (performance.now() - t0 > timeout) assert.fail(`${srv.label} /health not ${what} after ${timeout} ms: ${h.status} ${JSON.stringify(h.body)}`);
      await L.delay(50);
    }
  }));
  return { ms: Math.max(...sent), answered: Math.max(...answered), slowest };
}

// One reply to `event` from m's socket, timed.
async function timedAsk(sock, event, payload) {
  const t0 = performance.now();
  const r = await L.ask(sock, event, payload, { timeout: ALERT_MS + 2000 });
  return { ...r, ms: performance.now() - t0 };
}

const OUTAGES = {
  'paused (SIGSTOP), then resumed (SIGCONT)': { begin: (redis) => redis.pause(), end: (redis) => redis.resume() },
  'shut down, then started again on its AOF data': { begin: (redis) => redis.shutdown(), end: (redis) => redis.start() },
};

for (const [how, outage] of Object.entries(OUTAGES)) {
  it(`Redis ${how}: 503 within 2 s, shared-state alerts, same-node relays flow; then everything works again`, async (t) => {
    const cluster = await T.start({ nodes: 2, config: { presence_grace_secs: 30 } }); // its own Redis (AOF, fsync always)
    const { redis } = cluster;
    const [A, B] = cluster.nodes;
    const owner = await C.createOn(T, A, L.V4_WS, { name: 'weather', pin: '99', label: 'owner@1' });
    const alice = await C.attendOn(T, A, L.V2_POLL, owner.W, { name: 'alice', pin: '99', others: [owner], label: 'alice@1' });
    const bob = await C.attendOn(T, B, L.V2_WS, owner.W, { name: 'bob', pin: '99', others: [owner, alice], label: 'bob@2' });
    const all = [owner, alice, bob];
    L.drain(all.map((m) => m.sock));
    const negotiation = (s, to) => ({ to, expected: [[to, { attendee: { id: s.me.id }, message: E.PAYLOADS.negotiation.build({ W: owner.W, s, t: to }).message }]], all });
    // Before: relays on node 1 both ways, and across nodes.
    await C.relay(owner, 'negotiation', negotiation(owner, alice));
    await C.relay(alice, 'negotiation', negotiation(alice, owner));
    await C.relay(owner, 'negotiation', negotiation(owner, bob));
    for (const n of cluster.nodes) {
      const h = await C.healthOf(n);
      assert.ok(up(h), `${n.label} /health before: ${h.status} ${JSON.stringify(h.body)}`);
      assert.deepEqual([h.body.cluster, h.body.node_id], [true, n.nodeId]);
      assert.equal(await L.readMetric(n.url, 'wrw_redis_up'), 1);
    }

    // --- the outage ---
    const t0 = performance.now();
    await outage.begin(redis);
    const turned = await healthTurns(cluster.nodes, down, t0, HEALTH_MS + 2000, 'redis_unreachable');
    t.diagnostic(`Redis ${how.split(',')[0]}: /health 503 on both nodes for a request sent ${Math.round(turned.ms)} ms after ` +
      `(answered at ${Math.round(turned.answered)} ms; slowest answer ${Math.round(turned.slowest)} ms)`);
    assert.ok(turned.ms <= HEALTH_MS + SLACK_MS, `/health still answered ok to a request sent ${Math.round(turned.ms)} ms into the outage`);
    for (const n of cluster.nodes) {
      const h = await C.healthOf(n, HEALTH_MS);
      assert.ok(down(h), `${n.label} /health during the outage: ${h.status} ${JSON.stringify(h.body)}`);
      assert.ok(typeof h.body.redis.error === 'string' && h.body.redis.error.length > 0, `redis.error names the trouble: ${JSON.stringify(h.body.redis)}`);
      assert.equal(await L.readMetric(n.url, 'wrw_redis_up'), 0, `${n.label} wrw_redis_up during the outage`);
    }

    // Events that need the shared state: the alert, within ~3 s.
    const carol = await T.conn(B, L.V4_POLL, 'carol@2');
    const asks = [
      ['attend on node 2', carol, 'attend', { workspace: { token: owner.W.token, pin: '99' }, attendee: { name: 'carol' } }],
      ['create on node 1', owner.sock, 'create', { workspace: { name: 'new', pin: '' }, attendee: { name: 'o' } }],
      ['attendees on node 2', bob.sock, 'attendees', E.PAYLOADS.attendees.build({ W: owner.W, s: bob })],
    ];
    for (const [what, sock, event, payload] of asks) {
      const r = await timedAsk(sock, event, payload);
      t.diagnostic(`${what} during the outage: ${r.event} after ${Math.round(r.ms)} ms`);
      assert.deepEqual([r.event, r.payload], ['alert', C.SHARED_STATE], what);
      assert.ok(r.ms <= ALERT_MS + SLACK_MS, `${what}: the alert after ${Math.round(r.ms)} ms`);
    }
    // Same-node relays that flowed before still flow (and carry their payload).
    await C.relay(owner, 'negotiation', negotiation(owner, alice));
    await C.relay(alice, 'negotiation', negotiation(alice, owner));
    for (const n of cluster.nodes) n.assertAlive();

    // --- Redis back ---
    const t1 = performance.now();
    await outage.end(redis);
    const back = await healthTurns(cluster.nodes, up, t1, RECOVER_MS, 'ok again');
    t.diagnostic(`Redis back: /health 200 on both nodes for a request sent ${Math.round(back.ms)} ms after`);
    // Cross-node relays work again (the adapter resubscribed) within the same bound.
    let tries = 0;
    await L.poll(async () => {
      tries += 1;
      const message = { type: 'offer', data: { type: 'offer', sdp: `${E.SDP_OFFER}a=try:${tries}\r\n` } };
      const since = bob.sock.__rec.seq;
      owner.sock.emit('negotiation', { workspace: { id: owner.W.id }, attendee: { id: bob.me.id }, broadcaster: { id: owner.me.id }, accessToken: owner.token, message });
      const e = await L.firstOf(bob.sock, 'negotiation', { since, timeout: 500 });
      return e && isDeepStrictEqual(e.payload, { attendee: { id: owner.me.id }, message });
    }, { timeout: Math.max(0, t1 + RECOVER_MS - performance.now()), every: 100, what: 'a cross-node negotiation to arrive after Redis came back' });
    t.diagnostic(`cross-node relay working ${Math.round(performance.now() - t1)} ms after Redis came back (${tries} tries)`);
    await L.delay(600); // a try that was late must not be counted below
    L.drain(all.map((m) => m.sock));
    await C.relay(bob, 'negotiation', negotiation(bob, owner));
    await C.relay(owner, 'mic-toggle', { expected: [[alice, { attendee: owner.me, state: false }], [bob, { attendee: owner.me, state: false }]], all });
    // The workspace of before (its token, its PIN) takes a new attendee, on either node.
    const carolR = await L.attend(carol, owner.W.token, '99', 'carol');
    assert.equal(carolR.event, 'attendance-granted', `attend with the old workspace token: ${JSON.stringify(carolR)}`);
    assert.deepEqual(carolR.payload.attendees, { ...C.attendeesMap(...all), [carolR.payload.attendee.id]: carolR.payload.attendee },
      'the members of before, and no half-made carol from the outage');
    for (const m of all) assert.deepEqual(await L.waitFor(m.sock, 'attend'), carolR.payload.attendee, `${m.sock.__label} sees carol`);
    const carolM = C.member(carol, carolR.payload);
    assert.deepEqual(await C.attendeesOf(carolM), { event: 'attendees', payload: { attendees: carolR.payload.attendees } });
    const created = await L.create(owner.sock, { name: 'after' });
    assert.match(created.workspace.id, L.ID_RE);
    for (const n of cluster.nodes) {
      assert.equal(await L.readMetric(n.url, 'wrw_redis_up'), 1, `${n.label} wrw_redis_up after`);
      n.assertAlive();
    }
    for (const m of all) assert.deepEqual(L.unexpectedDisconnects(m.sock), [], `${m.sock.__label} was never disconnected`);
  });
}

it('a guest that goes while Redis is down gets its leave once Redis is back on its data (the node reconciles what it holds)', async (t) => {
  const cluster = await T.start({ nodes: 2, config: { presence_grace_secs: 1, cluster_heartbeat_ms: 300 } });
  const { redis } = cluster;
  const [A, B] = cluster.nodes;
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'ghostless', label: 'owner@1' });
  const guest = await C.attendOn(T, B, L.V2_WS, owner.W, { name: 'guest', others: [owner], label: 'guest@2' });
  // Shut down, not paused: a command sent to a paused Redis is still applied when it resumes.
  await redis.shutdown();
  await healthTurns([B], down, performance.now(), HEALTH_MS + 2000, 'redis_unreachable');
  const unrecorded = async () => L.metric(await L.scrape(B.url), 'wrw_redis_holds_unrecorded_total', {}, 0);
  const before = await unrecorded();
  L.close(guest.sock);
  // Node 2 tried to record the departure and could not: without a
  // reconcile, Redis would hold the guest as present on node 2 for ever.
  await L.poll(async () => (await unrecorded()) > before, { timeout: ALERT_MS + 2000, what: 'node 2 counts the departure Redis could not be told' });
  const t1 = performance.now();
  await redis.start();
  const gone = await L.waitFor(owner.sock, 'leave', { timeout: RECOVER_MS });
  t.diagnostic(`leave ${Math.round(performance.now() - t1)} ms after Redis came back`);
  assert.equal(gone.id, guest.me.id);
});
