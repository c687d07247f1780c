'use strict';
// Issue 21: a relay reaches only the nodes that hold its target. A broadcast
// to one room goes on that room's channel, which a node listens on only while
// it holds a socket in the room (src/cluster/rooms.rs).
//   - A relays to B while C holds an unrelated workspace: C's driver receives
//     none of it (wrw_redis_messages_received_total), and Redis counts one
//     listener on the target's room channel;
//   - a join on a node that had no socket in the workspace: the first relay to
//     the newcomer, sent the moment attendance-granted arrives, is delivered
//     (the node listened before it answered), in a loop;
//   - a socket that moves from node A to node C (reload) keeps receiving once
//     its re-attend is granted, and A stops listening on the rooms it left.

const { it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const E = require('../events.js');
const C = require('./lib.js');

const T = C.clusters(afterEach);
const received = (srv) => L.readMetric(srv.url, 'wrw_redis_messages_received_total').then((v) => v || 0);

// The adapter's channel of a room (rooms.rs: the request channel, the room, '#'),
// a shard channel (SSUBSCRIBE/SPUBLISH).
const roomChannel = (cluster, room) => `${cluster.prefix}-sio-request#/#${room}#`;
async function listeners(cluster, room) {
  const [, n] = await cluster.redis.cli('PUBSUB', 'SHARDNUMSUB', roomChannel(cluster, room));
  return n;
}

const negotiation = (from, to, n = 0) => ({
  ...E.PAYLOADS.negotiation.build({ W: from.W, s: from, t: to }),
  message: { type: 'offer', data: { type: 'offer', sdp: `${E.SDP_OFFER}a=n:${n}\r\n` } },
});

it('a relay between nodes A and B reaches neither C nor its driver; one listener per room channel', async (t) => {
  const cluster = await T.start({ nodes: 3 });
  const [A, B, Cn] = cluster.nodes;
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'ab', label: 'owner@A' });
  const guest = await C.attendOn(T, B, L.V2_WS, owner.W, { name: 'guest', others: [owner], label: 'guest@B' });
  const other = await C.createOn(T, Cn, L.V4_WS, { name: 'unrelated', label: 'other@C' });
  assert.equal(await listeners(cluster, `at:${guest.me.id}`), 1, 'only B listens on the guest\'s room');
  assert.equal(await listeners(cluster, `ws:${owner.W.id}`), 2, 'A and B listen on the workspace\'s room');
  assert.equal(await listeners(cluster, `ws:${other.W.id}`), 1, 'only C listens on its own workspace\'s room');

  const N = 200;
  const before = await Promise.all([A, B, Cn].map(received));
  const statsBefore = await cluster.redis.commandstats();
  const m = L.mark(guest.sock);
  for (let i = 0; i < N; i++) owner.sock.emit('negotiation', negotiation(owner, guest, i));
  await L.poll(() => guest.sock.__rec.entries.filter((e) => e.event === 'negotiation' && e.seq >= m.get(guest.sock)).length >= N,
    { timeout: 20000, what: `${N} negotiations at the guest on B` });
  const got = guest.sock.__rec.entries.filter((e) => e.event === 'negotiation' && e.seq >= m.get(guest.sock));
  assert.deepEqual(got.map((e) => e.payload.message), Array.from({ length: N }, (_, i) => negotiation(owner, guest, i).message), 'every one, intact and in order');
  const after = await Promise.all([A, B, Cn].map(received));
  const statsAfter = await cluster.redis.commandstats();
  const calls = (cmd) => (statsAfter[cmd] || 0) - (statsBefore[cmd] || 0);
  t.diagnostic(`Redis during ${N} relays: SPUBLISH ${calls('spublish')}, PUBLISH ${calls('publish')}`);
  assert.ok(calls('spublish') >= N, `the relays went on the room's shard channel (SPUBLISH ${calls('spublish')})`);
  assert.ok(calls('publish') <= N / 20, `not on a classic channel (PUBLISH ${calls('publish')})`);
  const [dA, dB, dC] = after.map((v, i) => v - before[i]);
  t.diagnostic(`messages received from Redis during ${N} relays A→B: A ${dA}, B ${dB}, C ${dC}`);
  assert.ok(dB >= N, `B received the ${N} relays from Redis (${dB})`);
  assert.ok(dC <= N / 20, `C received ${dC} messages during ${N} relays it has no part in (heartbeats at most)`);
  assert.ok(dA <= N / 20, `A (the sender) received ${dA}: its own relays do not come back to it`);
});

it('a join on a node with no socket in the workspace: a relay sent the moment it is granted arrives (20 joins)', async () => {
  const cluster = await T.start({ nodes: 2, config: { max_capacity_of_workspace: 30 } });
  const [A, B] = cluster.nodes;
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'joins', label: 'owner@A' });
  for (let i = 0; i < 20; i++) {
    const sock = await T.conn(B, i % 2 ? L.V2_WS : L.V4_WS, `guest${i}@B`);
    // The owner relays as soon as it hears the attend; the guest must get it.
    const heard = L.waitFor(owner.sock, 'attend');
    const g = await L.attendOk(sock, owner.W.token, '', `guest${i}`);
    const guest = C.member(sock, g);
    assert.deepEqual(await heard, g.attendee);
    const sent = negotiation(owner, guest, i);
    owner.sock.emit('negotiation', sent);
    const e = await L.waitFor(sock, 'negotiation', { timeout: 5000 });
    assert.deepEqual(e, { attendee: { id: owner.me.id }, message: sent.message }, `join ${i}: the first relay arrives`);
    L.close(sock);
  }
});

it('a socket that moves from node A to node C keeps receiving; A stops listening on the rooms it no longer holds', async () => {
  const cluster = await T.start({ nodes: 3, config: { presence_grace_secs: 30 } });
  const [A, B, Cn] = cluster.nodes;
  const owner = await C.createOn(T, B, L.V4_WS, { name: 'move', label: 'owner@B' });
  const guest = await C.attendOn(T, A, L.V2_WS, owner.W, { name: 'guest', others: [owner], label: 'guest@A' });
  const room = `at:${guest.me.id}`;
  assert.equal(await listeners(cluster, room), 1);
  // The reload: the tab on A goes, the new one comes in on C and re-attends.
  L.close(guest.sock);
  const sock = await T.conn(Cn, L.V2_WS, 'guest@C');
  const r = await L.reAttend(sock, guest.reply);
  assert.equal(r.event, 're-attendance-granted', JSON.stringify(r));
  for (let i = 0; i < 5; i++) {
    const sent = negotiation(owner, guest, i);
    owner.sock.emit('negotiation', sent);
    assert.deepEqual(await L.waitFor(sock, 'negotiation', { timeout: 5000 }), { attendee: { id: owner.me.id }, message: sent.message }, `relay ${i} after the move`);
  }
  // A's next beats drop the channels of the rooms it no longer holds a socket in.
  await L.poll(async () => (await listeners(cluster, room)) === 1 && (await listeners(cluster, `ws:${owner.W.id}`)) === 2,
    { timeout: 5000, what: 'one listener on the guest\'s room (C), two on the workspace\'s (B and C)' });
});
