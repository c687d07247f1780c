'use strict';
// Issue 21: "after Redis restarts, relays on every pair of nodes flow again
// before /health says 200". Three nodes, one member on each; Redis killed
// (kill -9) and started again on its AOF. The moment every node's /health is
// 200 again, one negotiation between every ordered pair of members arrives,
// first try: a node says it is healthy only once it listens on every
// channel it needs (the beat's CLIENT INFO check, src/cluster/mod.rs).

const { it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const E = require('../events.js');
const C = require('./lib.js');

const T = C.clusters(afterEach);
const RECOVER_MS = 10000;

const up = (h) => h.status === 200 && h.body && h.body.status === 'ok';

it('after Redis restarts, the first relay between every pair of nodes arrives once /health is 200 (two rounds)', async (t) => {
  const cluster = await T.start({ nodes: 3 });
  const { redis } = cluster;
  const [A, B, Cn] = cluster.nodes;
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'pairs', label: 'owner@A' });
  const bob = await C.attendOn(T, B, L.V2_WS, owner.W, { name: 'bob', others: [owner], label: 'bob@B' });
  const carol = await C.attendOn(T, Cn, L.V4_POLL, owner.W, { name: 'carol', others: [owner, bob], label: 'carol@C' });
  const all = [owner, bob, carol];
  L.drain(all.map((m) => m.sock));

  for (let round = 1; round <= 2; round++) {
    await redis.kill9();
    const t0 = performance.now();
    await redis.start();
    await Promise.all(cluster.nodes.map((n) => L.poll(async () => up(await C.healthOf(n)),
      { timeout: RECOVER_MS, every: 20, what: `${n.label} /health 200 (round ${round})` })));
    t.diagnostic(`round ${round}: /health 200 on every node ${Math.round(performance.now() - t0)} ms after Redis started`);
    for (const from of all) {
      for (const to of all) {
        if (from === to) continue;
        const message = { type: 'offer', data: { type: 'offer', sdp: `${E.SDP_OFFER}a=round:${round}\r\n` } };
        await C.relay(from, 'negotiation', {
          payload: { ...E.PAYLOADS.negotiation.build({ W: from.W, s: from, t: to }), message },
          expected: [[to, { attendee: { id: from.me.id }, message }]],
          all,
        });
      }
    }
  }
});

// After a reconnect, redis-rs's own resubscription sent every channel in one
// SUBSCRIBE and one SSUBSCRIBE, awaited one reply for each, and handed the
// surplus confirmations to the next requests as their replies (and each
// request's reply to the one after it): a heartbeat answered with a room's
// `ssubscribe`, and a member's `attendees` could be answered with another
// workspace's. The node now subscribes again itself, each confirmation
// awaited by its own command (src/cluster/mod.rs, `listening`).
it('a node listening on 1 200 room channels: after Redis restarts, every reply is its own request\'s (no foreign attendees, no misread Redis reply)', async (t) => {
  const cluster = await T.start({
    nodes: 1,
    config: { max_connections_per_ip: 100000, max_workspaces_per_ip_per_hour: 100000, max_live_workspaces: 100000 },
  });
  const { redis } = cluster;
  const [A] = cluster.nodes;
  const owners = [];
  for (let i = 0; i < 600; i++) owners.push(await C.createOn(T, A, L.V4_WS, { name: `w${i}`, label: `owner${i}` }));
  const from = A.stderr().length;
  const asking = owners.slice(0, 40);
  const replies = [];
  let stop = false;
  const loops = asking.map(async (m) => {
    while (!stop) {
      const r = await C.attendeesOf(m, 5000).catch((e) => ({ event: 'none', payload: e.message }));
      replies.push({ m, r });
      if (r.event !== 'attendees') await L.delay(50);
    }
  });
  await redis.shutdown();
  await redis.start();
  await L.poll(async () => up(await C.healthOf(A)), { timeout: RECOVER_MS, every: 20, what: '/health 200' });
  await L.delay(1000);
  stop = true;
  await Promise.all(loops);
  const answered = replies.filter(({ r }) => r.event === 'attendees');
  t.diagnostic(`${replies.length} attendees requests during and after the restart, ${answered.length} answered with a list`);
  for (const { m, r } of answered) {
    assert.deepEqual(Object.keys(r.payload.attendees), [m.me.id], `${m.sock.__label} got its own workspace's attendees`);
  }
  assert.ok(answered.length > asking.length, 'the lists came back after the restart');
  assert.doesNotMatch(A.stderr().slice(from), /Incompatible type|Not a Array/, 'no Redis reply was taken for another request\'s');
});
