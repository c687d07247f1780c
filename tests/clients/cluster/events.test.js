'use strict';
// Issue #11: every docs/PROTOCOL.md event across nodes. Three nodes on one Redis;
// the owner on node 1, attendees on nodes 2 and 3; each relay must reach
// exactly its receivers, intact, once (no node delivers a copy), for
// socket.io-client 2.0.4 (polling), 2.5.0 (websocket) and 4 (websocket, polling).

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const E = require('../events.js');
const C = require('./lib.js');

const { TEXT } = L;
// An SDP that is long and not ASCII: the payload must cross Redis byte for byte.
const BIG_SDP = `${E.SDP_OFFER}${Array.from({ length: 400 }, (_, i) => `a=x-line:${i} ünïcødé € 😀 "quoted" back\\slash\t<tag>&amp;`).join('\r\n')}\r\n`;

const F = C.clusters(after);
const T = C.clusters(afterEach);
let cluster;
before(async () => {
  // A long grace: a reload onto another node must not be taken for a ghost.
  cluster = await F.start({ nodes: 3, config: { presence_grace_secs: 5 } });
});
afterEach(() => {
  for (const n of cluster.nodes) n.assertAlive();
  assert.deepEqual(L.takeViolations(), [], 'server events must be 42["name", ONE_ARGUMENT] without acks');
});

for (const variant of [L.V2_POLL, L.V2_WS, L.V4_WS, L.V4_POLL]) {
  describe(`socket.io-client ${variant.client} over ${variant.transport}`, () => {
    it('create on node 1, attend on nodes 2 and 3; relays, room events, attendees, reload, kick, leave and destroy across nodes', async () => {
      const [A, B, N3] = cluster.nodes;
      const pin = '4321';
      const owner = await C.createOn(T, A, variant, { name: 'across', pin, attendee: 'olivia', label: 'owner@1' });
      const alice = await C.attendOn(T, B, variant, owner.W, { name: 'alice', pin, others: [owner], label: 'alice@2' });
      const bob = await C.attendOn(T, N3, variant, owner.W, { name: 'bob', pin, others: [owner, alice], label: 'bob@3' });
      assert.equal(alice.W.id, owner.W.id);
      assert.equal(bob.W.id, owner.W.id);
      assert.deepEqual(bob.reply.attendees, C.attendeesMap(owner, alice, bob), 'the grant on node 3 lists the members of nodes 1 and 2');
      let all = [owner, alice, bob];
      L.drain(all.map((m) => m.sock));

      // attendees, asked on each node, lists everyone.
      for (const m of all) {
        assert.deepEqual(await C.attendeesOf(m), { event: 'attendees', payload: { attendees: C.attendeesMap(owner, alice, bob) } }, `attendees on ${m.sock.__node.label}`);
      }

      // negotiation: node 2 -> node 3 (a big, non-ASCII offer), node 3 -> node 1.
      const offer = { type: 'offer', data: { type: 'offer', sdp: BIG_SDP } };
      await C.relay(alice, 'negotiation', {
        payload: { workspace: { id: owner.W.id }, attendee: { id: bob.me.id }, broadcaster: { id: alice.me.id }, accessToken: alice.token, message: offer },
        expected: [[bob, { attendee: { id: alice.me.id }, message: offer }]],
        all,
      });
      const answerMsg = { type: 'answer', data: { type: 'answer', sdp: E.SDP_ANSWER } };
      await C.relay(bob, 'negotiation', {
        payload: { workspace: { id: owner.W.id }, attendee: { id: owner.me.id }, broadcaster: { id: bob.me.id }, accessToken: bob.token, message: answerMsg },
        expected: [[owner, { attendee: { id: bob.me.id }, message: answerMsg }]],
        all,
      });

      // icecandidate: node 2 -> node 3, node 1 -> node 2 (a null candidate: end of candidates).
      await C.relay(alice, 'icecandidate', {
        to: bob,
        expected: [[bob, { attendee: { id: bob.me.id }, broadcaster: { id: alice.me.id }, candidate: E.CANDIDATE }]],
        all,
      });
      await C.relay(owner, 'icecandidate', {
        payload: { workspace: { id: owner.W.id }, attendee: { id: alice.me.id }, broadcaster: { id: owner.me.id }, accessToken: owner.token, candidate: null },
        expected: [[alice, { attendee: { id: alice.me.id }, broadcaster: { id: owner.me.id }, candidate: null }]],
        all,
      });

      // ring node 2 -> node 3 (storing workspace.call in the shared state), answer back, busy to the room.
      const storedCall = { id: 'call-x1', kind: 'video', note: 'ünïcødé' };
      const ringWs = { id: owner.W.id, name: owner.W.name, avatar: owner.W.avatar, call: storedCall };
      const call = { id: 'call-x1' };
      const ringOffer = { type: 'offer', sdp: BIG_SDP };
      await C.relay(alice, 'ring', {
        payload: { workspace: ringWs, attendee: alice.me, accessToken: alice.token, call, callee: { id: bob.me.id }, offer: ringOffer, nonce: 'ring-x' },
        expected: [[bob, { workspace: ringWs, caller: alice.me, offer: ringOffer, call, nonce: 'ring-x' }]],
        all,
      });
      const answerSdp = { type: 'answer', sdp: E.SDP_ANSWER };
      await C.relay(bob, 'answer', {
        payload: { workspace: ringWs, attendee: bob.me, call, caller: { id: alice.me.id }, answer: answerSdp, accessToken: bob.token, nonce: 42 },
        expected: [[alice, { workspace: ringWs, callee: bob.me, answer: answerSdp, call, nonce: 42 }]],
        all,
      });
      await C.relay(bob, 'busy', {
        payload: { workspace: ringWs, attendee: bob.me, call, caller: { id: alice.me.id }, accessToken: bob.token, nonce: 'b' },
        expected: [[owner, { workspace: ringWs, callee: bob.me, call }], [alice, { workspace: ringWs, callee: bob.me, call }]],
        all,
      });

      // mic-toggle / cam-toggle to the room (every other node), not the sender.
      await C.relay(bob, 'mic-toggle', {
        expected: [[owner, { attendee: bob.me, state: false }], [alice, { attendee: bob.me, state: false }]],
        all,
      });
      await C.relay(alice, 'cam-toggle', {
        expected: [[owner, { attendee: alice.me, state: true }], [bob, { attendee: alice.me, state: true }]],
        all,
      });

      // Page reload: bob's tab on node 3 closes, the new one lands on node 1 and re-attends.
      L.close(bob.sock);
      const bobSock = await T.conn(A, variant, 'bob-reloaded@1');
      const m = L.mark(bobSock, owner.sock, alice.sock);
      bobSock.emit('re-attend', L.reAttendPayload({ workspace: bob.W, attendee: bob.me, accessToken: bob.token }));
      const g = await L.nextEntry(bobSock, ['re-attendance-granted', 'alert', 'full', 'destroyed'], { since: m.get(bobSock) });
      assert.equal(g.event, 're-attendance-granted', `re-attend on node 1: ${JSON.stringify(g.payload)}`);
      assert.deepEqual(g.payload.attendee, bob.me);
      assert.deepEqual(g.payload.attendees, C.attendeesMap(owner, alice, bob));
      assert.deepEqual(g.payload.call, storedCall, 'the call stored by ring on node 2 comes back on node 1');
      assert.equal(g.payload.workspace.owner, owner.me.id);
      const seen = [];
      for (const x of [owner, alice]) {
        const e = await L.nextEntry(x.sock, 'attend', { since: m.get(x.sock) });
        assert.deepEqual(e.payload, bob.me, `${x.sock.__label} sees the reloaded bob`);
        seen.push(e);
      }
      await L.quiet(m, [g, ...seen]);
      const bob2 = { ...bob, sock: bobSock, token: g.payload.accessToken };
      all = [owner, alice, bob2];
      // Addressed messages now reach the new socket on node 1 (from node 2).
      await C.relay(alice, 'negotiation', {
        to: bob2,
        expected: [[bob2, { attendee: { id: alice.me.id }, message: E.PAYLOADS.negotiation.build({ W: owner.W, s: alice, t: bob2 }).message }]],
        all,
      });

      // hangup to the room; the stored call is cleared for everyone.
      await C.relay(alice, 'hangup', {
        payload: { workspace: { id: owner.W.id }, attendee: alice.me, call, accessToken: alice.token },
        expected: [[owner, { attendee: alice.me, call }], [bob2, { attendee: alice.me, call }]],
        all,
      });

      // kick from node 1 of an attendee on node 3.
      const carol = await C.attendOn(T, N3, variant, owner.W, { name: 'carol', pin, others: all, label: 'carol@3' });
      L.drain([...all, carol].map((x) => x.sock));
      const kicked = { id: carol.me.id, name: carol.me.name };
      await C.relay(owner, 'kick', {
        payload: { workspace: { id: owner.W.id }, attendee: { id: owner.me.id }, kickedAttendee: kicked, accessToken: owner.token },
        expected: [owner, alice, bob2, carol].map((x) => [x, kicked]),
        all: [...all, carol],
      });
      // Its old token's next relay on node 3 is refused; nobody gets anything.
      const mk = L.mark([...all, carol].map((x) => x.sock));
      const refused = await L.ask(carol.sock, 'negotiation', E.PAYLOADS.negotiation.build({ W: owner.W, s: carol, t: alice }));
      assert.deepEqual(refused, { event: 'alert', payload: TEXT.NOACCESS }, 'the kicked attendee\'s old token on node 3');
      await L.quiet(mk, carol.sock.__rec.entries.filter((e) => e.seq >= mk.get(carol.sock) && e.event === 'alert'));
      assert.deepEqual(await C.attendeesOf(alice), { event: 'attendees', payload: { attendees: C.attendeesMap(owner, alice, bob2) } });

      // The kicked seat is free on every node: dave attends on node 2, then leaves.
      const dave = await C.attendOn(T, B, variant, owner.W, { name: 'dave', pin, others: all, label: 'dave@2' });
      await C.relay(dave, 'leave', {
        expected: [[owner, dave.me], [alice, dave.me], [bob2, dave.me]],
        all: [...all, dave],
      });
      assert.deepEqual(await C.attendeesOf(bob2), { event: 'attendees', payload: { attendees: C.attendeesMap(owner, alice, bob2) } });

      // destroy from node 1 reaches every node; the token then answers destroyed everywhere.
      await C.relay(owner, 'destroy', {
        expected: all.map((x) => [x, {}]),
        all: [...all, carol, dave],
      });
      for (const srv of cluster.nodes) {
        const late = await T.conn(srv, variant, `late@${srv.label}`);
        assert.deepEqual(await L.attend(late, owner.W.token, pin), { event: 'destroyed', payload: {} }, `attend on ${srv.label} after destroy`);
      }
    });
  });
}
