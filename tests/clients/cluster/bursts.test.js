'use strict';
// Issue 21: no loss under bursts. Two attendees, both reading all the time,
// each send N negotiations of an SDP's size to the other back to back, with
// default settings: every one arrives, in order, and the nodes log no line
// per message. A relay to a socket whose queue is full waits until it has
// room (src/slow_clients/sends.rs), so the sender's later events wait behind it.
//
// N stays within the default event burst (`event_burst` 600): beyond it the
// per-socket event rate refuses events by design (hostile/), which a burst
// test must not mistake for loss.

const { it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const E = require('../events.js');
const C = require('./lib.js');

const T = C.clusters(afterEach);
const N = 500;
// About the size of a real offer (3.6 KB).
const SDP = `${E.SDP_OFFER}${'a=candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host generation 0\r\n'.repeat(48)}`;

const negotiation = (from, to, n) => ({
  ...E.PAYLOADS.negotiation.build({ W: from.W, s: from, t: to }),
  message: { type: 'offer', data: { type: 'offer', sdp: `${SDP}a=n:${n}\r\n` } },
});

const received = (m, since) => m.sock.__rec.entries.filter((e) => e.event === 'negotiation' && e.seq >= since);

// Lines a node wrote about full queues or dropped messages.
const dropLines = (srv) => srv.stderr().split('\n').filter((l) => /queue is (still )?full|dropped/i.test(l));

async function burst(t, cluster, a, b, what) {
  const m = L.mark(a.sock, b.sock);
  const started = performance.now();
  for (let i = 0; i < N; i++) {
    a.sock.emit('negotiation', negotiation(a, b, i));
    b.sock.emit('negotiation', negotiation(b, a, i));
  }
  // On a timeout the comparison below shows what is missing.
  await L.poll(() => received(a, m.get(a.sock)).length >= N && received(b, m.get(b.sock)).length >= N, {
    timeout: 30000,
    what: `${N} negotiations each way (${what})`,
  }).catch(() => {});
  t.diagnostic(`${what}: ${N} negotiations of ${SDP.length} B each way arrived in ${Math.round(performance.now() - started)} ms`);
  // What the nodes said first: it tells why something is missing.
  for (const n of cluster.nodes) assert.deepEqual(dropLines(n), [], `${n.label} logged nothing about full queues`);
  for (const [to, from] of [[a, b], [b, a]]) {
    const alerts = to.sock.__rec.entries.filter((e) => e.event === 'alert' && e.seq >= m.get(to.sock)).map((e) => e.payload);
    assert.deepEqual(alerts, [], `${what}: no alert at ${to.sock.__label}`);
    const got = received(to, m.get(to.sock)).map((e) => e.payload.message.data.sdp.slice(SDP.length));
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => `a=n:${i}\r\n`), `${what}: every one at ${to.sock.__label}, in order`);
    assert.equal(from.sock.connected, true);
  }
}

it(`a burst of ${N} negotiations each way between two attendees of one node: all arrive, in order, nothing logged`, async (t) => {
  const cluster = await T.start({ nodes: 1 });
  const [A] = cluster.nodes;
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'burst', label: 'owner@A' });
  const guest = await C.attendOn(T, A, L.V2_WS, owner.W, { name: 'guest', others: [owner], label: 'guest@A' });
  L.drain([owner.sock, guest.sock]);
  await burst(t, cluster, owner, guest, 'one node');
  for (const n of cluster.nodes) assert.equal(await L.readMetric(n.url, 'wrw_messages_dropped_total'), 0, `${n.label} dropped nothing`);
});

it(`a burst of ${N} negotiations each way between attendees of two nodes: all arrive, in order, nothing logged`, async (t) => {
  const cluster = await T.start({ nodes: 2 });
  const [A, B] = cluster.nodes;
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'burst', label: 'owner@A' });
  const guest = await C.attendOn(T, B, L.V2_WS, owner.W, { name: 'guest', others: [owner], label: 'guest@B' });
  L.drain([owner.sock, guest.sock]);
  await burst(t, cluster, owner, guest, 'two nodes');
});
