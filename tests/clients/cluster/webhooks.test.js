'use strict';
// Issue 23, step 2: webhooks in a cluster. Three nodes on one redis-server,
// each with the same webhook_urls (one loopback receiver, ../webhooks/
// receiver.js, which verifies every signature with `standardwebhooks`) and
// the same WEBHOOK_SECRET. A scripted run spread over the nodes with
// socket.io-client 2 and the operator API: the receiver gets every event
// exactly once, of the right type and reason, signed, each attendee's
// `attendee.joined` before its `attendee.left`. Each node sends what its own
// requests and its own presence ticks changed (README, Webhooks): a grace
// expiry is decided once, by whichever node's tick. `data.seq` is counted per
// node in this step (README), so only its form is checked here, not its
// continuity across nodes.

const { it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const C = require('./lib.js');
const { startReceiver, newSecret, hookMetrics } = require('../webhooks/receiver.js');

const KEY = L.newApiKey();
const SECRET = newSecret();
const WS = '/api/v1/workspaces';
const call = (srv, method, path, body) => L.api(srv, method, path, { key: KEY, body });

const T = C.clusters(afterEach);
const receivers = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});
afterEach(() => {
  assert.deepEqual(L.takeViolations(), [], 'server events must be 42["name", ONE_ARGUMENT] without acks');
});

// What a recorded request's body says.
const dataOf = (r) => (r.json && r.json.data) || {};
const typeOf = (r) => r.json && r.json.type;
const attendeeOf = (r) => (dataOf(r).attendee || {}).id;
// The key an event is counted by: type, data.attendee.id, data.reason.
const keyOf = (r) => `${typeOf(r)} ${attendeeOf(r) || '-'} ${dataOf(r).reason || '-'}`;
const keyFor = (type, id, reason) => `${type} ${id || '-'} ${reason || '-'}`;
// Each request as [n, webhook-id, status, key, seq, body timestamp, arrival (ms since the first)].
const show = (rs) => JSON.stringify(rs.map((r) => [r.n, r.id, r.status, keyOf(r), dataOf(r).seq,
  r.json && r.json.timestamp, Math.round(r.at - rs[0].at)]));
const pick = ({ id, name, avatar }) => ({ id, name, avatar });

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$/;

it('a run spread over three nodes: every event reaches the receiver exactly once, signed, each attendee joined before it left', { timeout: 60000 }, async (t) => {
  const r = await startReceiver({ secrets: [SECRET], label: 'receiver' });
  receivers.push(r);
  const cluster = await T.start({
    nodes: 3,
    config: {
      presence_grace_secs: 1, max_capacity_of_workspace: 8,
      webhook_urls: [r.url], webhook_retry_delays_ms: [100, 200, 400],
    },
    env: { OPERATOR_API_KEYS: KEY, WEBHOOK_SECRET: SECRET },
  });
  const [A, B, N3] = cluster.nodes;
  const t0 = Date.now();

  // Every event the run must cause: [type, attendee, reason, the node that sends it (null: any)].
  const expected = [];
  const expect = (type, attendee, reason, node) => expected.push({ type, attendee, reason, node });

  // The owner on node A creates the workspace.
  const owner = await C.createOn(T, A, L.V2_WS, { name: 'hooked across', attendee: 'owner', label: 'owner@A' });
  const W = owner.W;
  expect('workspace.created', pick(owner.me), undefined, A);

  // A client on node B attends, then one on node C.
  const b1 = await C.attendOn(T, B, L.V2_POLL, W, { name: 'b1', others: [owner], label: 'b1@B' });
  expect('attendee.joined', pick(b1.me), undefined, B);
  const c1 = await C.attendOn(T, N3, L.V2_WS, W, { name: 'c1', others: [owner, b1], label: 'c1@C' });
  expect('attendee.joined', pick(c1.me), undefined, N3);

  // The owner on A kicks C's client.
  const kicked = { id: c1.me.id, name: c1.me.name };
  await C.relay(owner, 'kick', { to: c1, expected: [owner, b1, c1].map((x) => [x, kicked]), all: [owner, b1, c1] });
  expect('attendee.left', pick(c1.me), 'kicked', A);

  // B's client leaves.
  await C.relay(b1, 'leave', { expected: [[owner, b1.me]], all: [owner, b1] });
  expect('attendee.left', pick(b1.me), 'left', B);

  // A seat minted through node C's API, removed through node B's API.
  // (The seat's joining is announced to the room at once, as an `attend`.)
  const mk = L.mark(owner.sock);
  const seat = L.apiOk(await call(N3, 'POST', `${WS}/${W.id}/attendees`, { name: 'seat', avatar: 'seat.png' }), 201, 'a seat through node C');
  assert.equal(seat.workspace.id, W.id);
  const attended = await L.nextEntry(owner.sock, 'attend', { since: mk.get(owner.sock), after: ' (a seat minted through node C)' });
  assert.deepEqual(attended.payload, seat.attendee, 'the owner on A hears the seat attend');
  expect('attendee.joined', pick(seat.attendee), undefined, N3);
  L.apiOk(await call(B, 'DELETE', `${WS}/${W.id}/attendees/${seat.attendee.id}`), 204, 'the seat removed through node B');
  const heard = await L.nextEntry(owner.sock, 'kicked', { since: mk.get(owner.sock), after: ' (the seat removed through node B)' });
  assert.deepEqual(heard.payload, { id: seat.attendee.id, name: 'seat' }, 'the owner on A hears the seat kicked');
  expect('attendee.left', pick(seat.attendee), 'operator', B);

  // A client on B attends and disconnects: its grace (1 s) expires, decided once by the cluster's tick.
  const b2 = await C.attendOn(T, B, L.V2_POLL, W, { name: 'b2', others: [owner], label: 'b2@B' });
  expect('attendee.joined', pick(b2.me), undefined, B);
  L.close(b2.sock);
  assert.equal((await L.waitFor(owner.sock, 'leave', { timeout: 10000 })).id, b2.me.id, 'the owner hears b2 gone after its grace');
  expect('attendee.left', pick(b2.me), 'grace_expired', null);

  // The owner destroys the workspace: one attendee.left (destroyed) per member (the owner alone), then workspace.destroyed.
  await C.relay(owner, 'destroy', { expected: [[owner, {}]], all: [owner, b1, c1] });
  expect('attendee.left', { id: owner.me.id }, 'destroyed', A);
  expect('workspace.destroyed', undefined, 'owner', A);

  // Everything delivered, then every node settled: nothing pending, retried or failed,
  // and the nodes' delivered counts add up to the events (so nothing came twice).
  const total = expected.length;
  await r.waitDelivered(() => true, total, { timeout: 15000, what: 'events delivered' });
  const perNode = await L.poll(async () => {
    const hs = await Promise.all(cluster.nodes.map(hookMetrics));
    const sum = hs.reduce((n, h) => n + h.delivered, 0);
    return hs.every((h) => h.pending === 0) && sum >= total ? hs : null;
  }, { timeout: 10000, what: 'wrw_webhook_pending 0 on every node and the events counted delivered' });
  const t1 = Date.now();
  assert.deepEqual(perNode.map((h) => ({ retried: h.retried, failed: h.failed })), cluster.nodes.map(() => ({ retried: 0, failed: 0 })),
    'no delivery retried or failed on any node');
  assert.equal(perNode.reduce((n, h) => n + h.delivered, 0), total, `one delivery per event in all: ${JSON.stringify(perNode)}`);
  assert.equal(r.requests.length, total, `the receiver got ${r.requests.length} requests for ${total} events: ${show(r.requests)}`);

  // Each node sent what its own requests changed; the grace expiry was sent by exactly one of them.
  const own = cluster.nodes.map((n) => expected.filter((e) => e.node === n).length);
  const extra = perNode.map((h, i) => h.delivered - own[i]);
  assert.deepEqual([...extra].sort(), [0, 0, 1], `the nodes' deliveries ${JSON.stringify(perNode.map((h) => h.delivered))} ` +
    `are their own events ${JSON.stringify(own)} plus the grace expiry on one of them`);
  t.diagnostic(`grace expiry of b2 sent by ${cluster.nodes[extra.indexOf(1)].label}`);

  // Every request: a POST of JSON, Standard Webhooks headers, verified, about this workspace, seq a positive integer.
  for (const q of r.requests) {
    const where = `request #${q.n} ${q.body.slice(0, 300)}`;
    assert.equal(q.method, 'POST', where);
    assert.equal(q.path, r.path, `posted at the URL's path: ${where}`);
    assert.match(String(q.headers['content-type']), /^application\/json/, `content-type of ${where}`);
    assert.match(String(q.id), /^msg_\S+$/, `webhook-id of ${where}`);
    assert.match(String(q.timestamp), /^\d+$/, `webhook-timestamp of ${where}`);
    assert.ok(q.verified, `the signature verifies with WEBHOOK_SECRET (standardwebhooks): ${q.signature}; ${where}`);
    assert.equal(q.status, 200, `answered 200: ${where}`);
    assert.ok(q.json && typeof q.json === 'object', `a JSON body: ${where}`);
    assert.deepEqual(Object.keys(q.json).sort(), ['data', 'timestamp', 'type'], `body keys: ${where}`);
    assert.match(String(q.json.timestamp), ISO_UTC, `body timestamp: ${where}`);
    const at = Date.parse(q.json.timestamp);
    assert.ok(at >= t0 - 1000 && at <= t1 + 1000, `body timestamp within the run: ${where}`);
    assert.deepEqual(dataOf(q).workspace, { id: W.id }, `data.workspace: ${where}`);
    assert.ok(Number.isInteger(dataOf(q).seq) && dataOf(q).seq >= 1, `data.seq a positive integer: ${where}`);
  }
  const ids = r.requests.map((q) => q.id);
  assert.equal(new Set(ids).size, ids.length, `one webhook-id per event: ${show(r.requests)}`);

  // Exactly once each, counted by type + data.attendee.id + data.reason.
  const counts = {};
  for (const q of r.requests) counts[keyOf(q)] = (counts[keyOf(q)] || 0) + 1;
  const want = {};
  for (const e of expected) want[keyFor(e.type, e.attendee && e.attendee.id, e.reason)] = 1;
  assert.equal(Object.keys(want).length, total, 'the expected events are distinct');
  assert.deepEqual(counts, want, `every event exactly once; got ${show(r.requests)}`);

  // Each event's data as the contract says.
  const byKey = new Map(r.requests.map((q) => [keyOf(q), q]));
  for (const e of expected) {
    const q = byKey.get(keyFor(e.type, e.attendee && e.attendee.id, e.reason));
    const where = `${e.type}/${e.reason || '-'}: ${q.body}`;
    const keys = ['seq', 'workspace', ...(e.attendee ? ['attendee'] : []), ...(e.reason ? ['reason'] : [])];
    assert.deepEqual(Object.keys(dataOf(q)).sort(), keys.sort(), `data's keys: ${where}`);
    if (e.attendee) assert.deepEqual(dataOf(q).attendee, e.attendee, `data.attendee: ${where}`);
  }

  for (const n of cluster.nodes) n.assertAlive();

  // Last (the harness's afterEach stops the servers after a subtest too).
  // Order of arrival across nodes: each node queues the events it caused, in
  // order; nothing orders two nodes' queues until the outbox moves into Redis
  // (issue 23, next step). Checked, and reported as a TODO while it can fail.
  await t.test('arrival order across nodes', { todo: 'cross-node order comes with the Redis outbox (issue 23, next step); each node orders only its own events' }, () => {
    // Order of arrival: each attendee's joined (the owner's workspace.created) before its left;
    // the workspace.created first, the workspace.destroyed last.
    const pos = (type, id, reason) => r.requests.findIndex((q) => keyOf(q) === keyFor(type, id, reason));
    for (const e of expected.filter((x) => x.type === 'attendee.left')) {
      const id = e.attendee.id;
      const joined = id === owner.me.id ? pos('workspace.created', id) : pos('attendee.joined', id);
      assert.ok(joined >= 0 && joined < pos('attendee.left', id, e.reason),
        `${id}'s ${id === owner.me.id ? 'workspace.created' : 'attendee.joined'} arrives before its attendee.left (${e.reason}); got ${show(r.requests)}`);
    }
    assert.equal(typeOf(r.requests[0]), 'workspace.created', `workspace.created first; got ${show(r.requests)}`);
    assert.equal(typeOf(r.requests[total - 1]), 'workspace.destroyed', `workspace.destroyed last; got ${show(r.requests)}`);
  });

});
