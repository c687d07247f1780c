'use strict';
// Issue #11: presence across nodes. A node killed with -9: the survivors
// announce exactly one `leave` per attendee it held, after the grace plus the
// time to notice the node is dead, and clean it out of Redis. A ghost on one
// node is announced once to every node; a reload onto another node within
// the grace is no ghost. Workspace expiry runs once per cluster and spares a
// workspace with a member connected to any node.

const { it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { performance } = require('node:perf_hooks');
const L = require('../harness.js');
const E = require('../events.js');
const C = require('./lib.js');

const T = C.clusters(afterEach);
// How much later than its bound an event may come on a busy 2-core machine.
const SLACK_MS = 500;

// Waits until `ms` after `t0` (a performance.now() value): the passage of
// time is what is under test (nothing may come); the caller's quiet() then
// flushes what the server sent before.
async function until(t0, ms) {
  const left = t0 + ms - performance.now();
  if (left > 0) await L.delay(left);
}

// Every `leave` a socket recorded since `seq`.
const leavesSince = (sock, seq) => sock.__rec.entries.filter((e) => e.seq >= seq && e.event === 'leave');

it('kill -9 of a node: every survivor gets exactly one leave per attendee it held, after the grace; Redis keeps nothing of it', async (t) => {
  const graceMs = 1000;
  const hbMs = 300;
  const cluster = await T.start({ nodes: 3, config: { presence_grace_secs: graceMs / 1000, cluster_heartbeat_ms: hbMs, max_capacity_of_workspace: 6 } });
  const [A, B, N3] = cluster.nodes;
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'doomed-node', label: 'owner@1' });
  const guestB = await C.attendOn(T, B, L.V2_POLL, owner.W, { name: 'gB', others: [owner], label: 'gB@2' });
  const c1 = await C.attendOn(T, N3, L.V4_WS, owner.W, { name: 'c1', others: [owner, guestB], label: 'c1@3' });
  const c2 = await C.attendOn(T, N3, L.V2_WS, owner.W, { name: 'c2', others: [owner, guestB, c1], label: 'c2@3' });
  const x = await C.attendOn(T, N3, L.V4_POLL, owner.W, { name: 'x', others: [owner, guestB, c1, c2], label: 'x@3' });
  // x has a second tab, on node 2: it outlives node 3.
  const xTab = await T.conn(B, L.V2_WS, 'x-tab@2');
  const r = await L.reAttend(xTab, { workspace: x.W, attendee: x.me, accessToken: x.token });
  assert.equal(r.event, 're-attendance-granted', JSON.stringify(r));
  const survivors = [owner.sock, guestB.sock, xTab];
  for (const s of [owner.sock, guestB.sock]) assert.deepEqual(await L.waitFor(s, 'attend'), x.me);
  const before = await cluster.dump();
  assert.notDeepEqual(C.occurrences(before, N3.nodeId), [], `node 3 (${N3.nodeId}) is in Redis while it lives`);

  const marks = L.mark(survivors);
  const t0 = performance.now();
  await N3.kill9();
  // Each survivor socket: one leave for c1 and one for c2, in either order.
  const bound = graceMs + 3 * hbMs + 1000;
  const arrivals = [];
  await Promise.all(survivors.map(async (s) => {
    for (let i = 0; i < 2; i++) {
      const e = await L.nextEntry(s, 'leave', { since: marks.get(s), timeout: bound + 3000, after: ' after node 3 was killed' });
      arrivals.push({ socket: s.__label, id: e.payload.id, ms: Math.round(performance.now() - t0) });
    }
  }));
  const latencies = arrivals.map((a) => a.ms);
  t.diagnostic(`dead-node leave latency after kill -9 (grace ${graceMs} ms, heartbeat ${hbMs} ms): ` +
    `first ${Math.min(...latencies)} ms, last ${Math.max(...latencies)} ms; ${JSON.stringify(arrivals)}`);
  for (const s of survivors) {
    assert.deepEqual(leavesSince(s, marks.get(s)).map((e) => e.payload).sort((p, q) => p.id.localeCompare(q.id)),
      [c1.me, c2.me].sort((p, q) => p.id.localeCompare(q.id)), `${s.__label}: one leave each for c1 and c2`);
  }
  assert.ok(Math.min(...latencies) >= graceMs - 100, `a leave came ${Math.min(...latencies)} ms after the kill, before the ${graceMs} ms grace`);
  assert.ok(Math.max(...latencies) <= bound + SLACK_MS, `the last leave came ${Math.max(...latencies)} ms after the kill; bound grace + 3 × heartbeat + 1 s = ${bound} ms`);

  // Nothing more comes: no second leave (from another survivor), none for x.
  await until(t0, Math.max(...latencies) + 1500);
  await L.quiet(marks, survivors.flatMap((s) => leavesSince(s, marks.get(s))));
  assert.deepEqual(await C.attendeesOf(owner), { event: 'attendees', payload: { attendees: C.attendeesMap(owner, guestB, x) } });
  // x, on node 2 only now, is still reached.
  const msg = E.PAYLOADS.negotiation.build({ W: owner.W, s: owner, t: x }).message;
  await C.relay(owner, 'negotiation', { to: x, expected: [[{ sock: xTab }, { attendee: { id: owner.me.id }, message: msg }]], all: [owner, guestB, { sock: xTab }] });

  // Redis: node 3's id appears nowhere (key names, members, fields, values).
  const tClean = performance.now();
  let dump;
  await L.poll(async () => {
    dump = await cluster.dump();
    return C.occurrences(dump, N3.nodeId).length === 0;
  }, { timeout: 5000, every: 100, what: `no trace of ${N3.nodeId} in Redis (${JSON.stringify(C.occurrences(dump || {}, N3.nodeId))})` });
  t.diagnostic(`node 3 gone from Redis ${Math.round(performance.now() - t0)} ms after the kill (${Math.round(performance.now() - tClean)} ms after the checks began)`);
  // ...while the survivors are still there (the dump does see node ids).
  for (const n of [A, B]) assert.notDeepEqual(C.occurrences(dump, n.nodeId), [], `${n.label} is still registered`);
  assert.deepEqual(dump[`${cluster.prefix}:nodes`] && dump[`${cluster.prefix}:nodes`].value, [A.nodeId, B.nodeId].sort(), 'the live nodes set');
});

it('a ghost on node 3 is announced once on every node after the grace; a reload onto node 1 within the grace is not', async () => {
  const graceMs = 1500;
  const cluster = await T.start({ nodes: 3, config: { presence_grace_secs: graceMs / 1000 } });
  const [A, B, N3] = cluster.nodes;
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'ghosts', label: 'owner@1' });
  const watcher = await C.attendOn(T, B, L.V2_WS, owner.W, { name: 'watcher', others: [owner], label: 'watcher@2' });
  const ghost = await C.attendOn(T, N3, L.V2_POLL, owner.W, { name: 'ghost', others: [owner, watcher], label: 'ghost@3' });
  const reloader = await C.attendOn(T, N3, L.V4_WS, owner.W, { name: 'reloader', others: [owner, watcher, ghost], label: 'reloader@3' });
  const room = [owner.sock, watcher.sock];
  const marks = L.mark(room);

  const t0 = performance.now();
  L.vanish(ghost.sock);
  L.vanish(reloader.sock);
  const back = await T.conn(A, L.V4_WS, 'reloaded@1');
  const r = await L.reAttend(back, { workspace: reloader.W, attendee: reloader.me, accessToken: reloader.token });
  assert.equal(r.event, 're-attendance-granted', JSON.stringify(r));
  assert.ok(performance.now() - t0 < graceMs, 'the reload happened within the grace');
  const attends = [];
  for (const s of room) {
    const e = await L.nextEntry(s, 'attend', { since: marks.get(s) });
    assert.deepEqual(e.payload, reloader.me);
    attends.push(e);
  }
  // The reloaded socket (node 1) is in the room too: it hears of the ghost as well.
  marks.set(back, back.__rec.seq);
  const leaves = [];
  for (const s of [...room, back]) {
    const e = await L.nextEntry(s, 'leave', { since: marks.get(s), timeout: graceMs + 3000 });
    const ms = performance.now() - t0;
    assert.deepEqual(e.payload, ghost.me, `${s.__label}: the ghost leaves`);
    assert.ok(ms >= graceMs - 100, `leave after ${Math.round(ms)} ms, before the ${graceMs} ms grace`);
    leaves.push(e);
  }
  // Until grace + 1 s: nothing else (no second leave, none for the reloaded one).
  await until(t0, graceMs + 1000);
  await L.quiet(marks, [...attends, ...leaves]);
  assert.deepEqual(await C.attendeesOf(watcher), { event: 'attendees', payload: { attendees: C.attendeesMap(owner, watcher, reloader) } });
});

it('workspace expiry runs once per cluster and spares a workspace whose member is connected to another node', async (t) => {
  const cluster = await T.start({ nodes: 3, config: { workspace_expiry_secs: 1, presence_grace_secs: 600, max_capacity_of_workspace: 6 } });
  const [A, B, N3] = cluster.nodes;
  const o1 = await C.createOn(T, A, L.V4_WS, { name: 'abandoned', label: 'o1@1' });
  const g1 = await C.attendOn(T, B, L.V2_POLL, o1.W, { name: 'g1', others: [o1], label: 'g1@2' });
  const o2 = await C.createOn(T, A, L.V2_WS, { name: 'guest-elsewhere', label: 'o2@1' });
  await C.attendOn(T, N3, L.V4_POLL, o2.W, { name: 'g2', others: [o2], label: 'g2@3' });
  const expired = async () => {
    const counts = await Promise.all(cluster.nodes.map(async (n) => L.metric(await L.scrape(n.url), 'wrw_workspaces_expired_total', {}, 0)));
    return { counts, sum: counts.reduce((a, b) => a + b, 0) };
  };
  assert.equal((await expired()).sum, 0);

  const t0 = performance.now();
  L.close(o1.sock);
  L.vanish(g1.sock);
  L.close(o2.sock); // o2's guest stays connected, to node 3.
  await L.poll(async () => (await expired()).sum >= 1, { timeout: 10000, every: 100, what: 'one workspace to expire' });
  const elapsed = performance.now() - t0;
  assert.ok(elapsed >= 900, `expired after ${Math.round(elapsed)} ms, before the 1 s expiry`);
  const prober = await T.conn(B, L.V2_WS, 'prober@2');
  assert.deepEqual(await L.attend(prober, o1.W.token, ''), { event: 'destroyed', payload: {} }, 'the abandoned workspace is gone (asked on node 2)');

  // Two more expiry periods: still one expiry in the whole cluster, and the
  // workspace with a connected guest on node 3 is alive on every node.
  await until(t0, 3000);
  const after = await expired();
  t.diagnostic(`wrw_workspaces_expired_total per node: ${JSON.stringify(after.counts)}`);
  assert.equal(after.sum, 1, `one expiry in the cluster, per node ${JSON.stringify(after.counts)}`);
  for (const srv of cluster.nodes) {
    const p = await T.conn(srv, L.V4_WS, `p@${srv.label}`);
    const j = await L.attendOk(p, o2.W.token, '', `p-${srv.label}`);
    assert.equal(j.workspace.id, o2.W.id);
    L.close(p);
  }
});
