'use strict';
// Issue #12: an attendee that stops reading its socket (TCP window full) while
// the owner keeps sending to it. The server counts what it drops, logs a few
// lines (not one per message), closes the connection once nothing sent to it
// has got through for `stalled_socket_timeout_ms` (the client reconnects and
// re-attends), and a bystander misses nothing. Issue 21: the same when the
// owner is on another node (the relays come through Redis, and wait, then are
// dropped, on the stalled socket's node).

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const C = require('../cluster/lib.js');

const T = L.tracked(afterEach);
const CT = C.clusters(afterEach);

const STALL_MS = 1000;
// Slack for a loaded 2-core machine: the cut comes with the first drop after the timeout.
const CUT_SLACK_MS = 4000;
const SDP = 'v=0 '.repeat(900); // 3.6 KB, a real offer's size
const BATCH = 200;

// The stalled client's TCP socket stops being read: the kernel's buffers fill,
// then the server's queue for it.
function stopReading(socket) {
  const tcp = socket.io.engine.transport.ws._socket;
  tcp.pause();
  return () => tcp.resume();
}

const warnings = (srv) => srv.stderr().split('\n').filter((l) => l.trim())
  .map((l) => JSON.parse(l)).filter((l) => l.level === 'WARN');

const CONFIG = { stalled_socket_timeout_ms: STALL_MS, events_per_second: 0, log_format: 'json' };

// One node, or two: the owner on the first, the others on the second.
async function nodes(count) {
  if (count === 1) {
    const srv = await T.start({ config: CONFIG, rustLog: 'warn' });
    return [srv, srv];
  }
  return (await CT.start({ nodes: 2, config: CONFIG, rustLog: 'warn' })).nodes;
}

// A workspace: the owner, the attendee that will stop reading, a bystander;
// `srv` is the node of the last two.
async function workspace(variant, count = 1) {
  const [ownerSrv, srv] = await nodes(count);
  const owner = await T.conn(ownerSrv, variant, 'owner');
  const w = await L.create(owner, { name: 'slow' });
  const stalled = await T.conn(srv, variant, 'stalled', { reconnection: true });
  const s = await L.attendOk(stalled, w.workspace.token, '', 'stalled');
  const bystander = await T.conn(srv, variant, 'bystander');
  const b = await L.attendOk(bystander, w.workspace.token, '', 'bystander');
  L.drain(owner, stalled, bystander);
  const negotiation = (to, i) => owner.emit('negotiation', {
    workspace: { id: w.workspace.id }, attendee: { id: to.attendee.id }, broadcaster: { id: w.attendee.id },
    accessToken: w.accessToken, message: { i, sdp: SDP },
  });
  return { srv, owner, w, stalled, s, bystander, b, negotiation };
}

describe('a client that stops reading', () => {
  for (const [count, where] of [[1, 'one node'], [2, 'the owner on another node']])
  for (const variant of [L.V4_WS, L.V2_WS]) {
    it(`${variant.client}/websocket, ${where}: is disconnected after the setting; drops counted and logged a few times; the bystander gets all`, async (t) => {
      const { srv, w, stalled, s, bystander, b, negotiation } = await workspace(variant, count);
      const held = (await L.health(srv)).sockets;
      const resume = stopReading(stalled);
      const stoppedAt = Date.now();
      let sentToStalled = 0;
      let toBystander = 0;
      // Until the server has let go of the stalled socket: a batch to it, then
      // one to the bystander, awaited (which paces the owner).
      while ((await L.health(srv)).sockets === held) {
        assert.ok(Date.now() - stoppedAt < 30000, `the stalled socket still connected after ${sentToStalled} messages`);
        for (let k = 0; k < BATCH; k++) negotiation(s, sentToStalled++);
        negotiation(b, toBystander);
        const got = await L.waitFor(bystander, 'negotiation', { timeout: 10000 });
        assert.deepEqual(got, { attendee: { id: w.attendee.id }, message: { i: toBystander, sdp: SDP } }, 'the bystander gets every message, in order');
        toBystander++;
      }
      const health = await L.health(srv);
      assert.equal(health.status, 'ok');
      assert.equal(health.sockets, held - 1, 'the others stay');

      const samples = await L.scrape(srv.url);
      const dropped = L.metric(samples, 'wrw_messages_dropped_total');
      assert.ok(dropped > 0 && dropped <= sentToStalled, `dropped ${dropped} of ${sentToStalled}`);
      assert.equal(L.metric(samples, 'wrw_stalled_connections_cut_total'), 1, 'one connection cut');

      const warns = warnings(srv);
      // The cut's line is the one that says how long the client had read nothing.
      const cuts = warns.filter((l) => l.fields.stalled_ms !== undefined);
      assert.equal(cuts.length, 1, JSON.stringify(warns));
      const stalledMs = cuts[0].fields.stalled_ms;
      assert.ok(stalledMs >= STALL_MS && stalledMs <= STALL_MS + CUT_SLACK_MS, `cut after ${stalledMs} ms of a full queue`);
      t.diagnostic(`${sentToStalled} sent to the stalled socket, ${dropped} dropped, cut after ${stalledMs} ms; ${warns.length} WARN lines`);
      assert.ok(warns.length <= 4, `a few lines, not one per drop (${dropped}): ${JSON.stringify(warns)}`);
      const sids = new Set(warns.map((l) => l.fields.sid).filter(Boolean));
      assert.deepEqual([...sids], [stalled.__rec.sids[0]], `the lines name the stalled socket: ${JSON.stringify(warns)}`);

      // Reading again, the client finds its connection closed, reconnects and
      // re-attends as the same attendee; from then on it gets its messages again.
      stalled.__allowDisconnect = true;
      resume();
      const reason = await L.withTimeout(stalled.__disconnected, 10000, 'the stalled client to see its disconnect');
      assert.match(reason, /^transport (close|error)$/);
      await L.poll(() => stalled.connected && stalled.__rec.sids.length === 2, { timeout: 10000, what: 'the stalled client to reconnect' });
      assert.equal((await L.reAttend(stalled, s)).event, 're-attendance-granted');
      negotiation(s, sentToStalled);
      negotiation(b, toBystander);
      const after = (await L.nextEntry(stalled, 'negotiation', { since: stalled.__rec.seq, timeout: 10000 })).payload;
      assert.equal(after.message.i, sentToStalled);
      assert.equal((await L.waitFor(bystander, 'negotiation', { timeout: 10000 })).message.i, toBystander);
    });
  }

  it('does not hold up the shutdown (SIGTERM exits 0, within shutdown_timeout_secs)', async () => {
    const { srv, owner, stalled, s, negotiation } = await workspace(L.V4_WS);
    stopReading(stalled);
    stalled.__allowDisconnect = true;
    // Enough to fill the kernel's buffers and the server's queue for it.
    for (let i = 0; i < 3000; i++) negotiation(s, i);
    await L.ask(owner, 'iceservers', {});
    // Engine.IO's close waits for the blocked writer: without the cut this
    // times out (exit 1 after 10 s).
    await L.terminate(srv, 9000);
  });
});
