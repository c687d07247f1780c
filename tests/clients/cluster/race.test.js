'use strict';
// Issue #11: the capacity is atomic across nodes. Three joiners on three
// nodes race for the last seat, round after round: exactly one is granted,
// the others get `full`, and the room hears of the winner only.

const { it, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const C = require('./lib.js');

const ROUNDS = 10;
const JOINER_VARIANTS = [L.V4_WS, L.V2_WS, L.V4_POLL, L.V2_POLL];

const F = C.clusters(after);
const T = C.clusters(afterEach);

it(`${ROUNDS} rounds: 3 joiners on 3 nodes race for the last seat; exactly one attendance-granted, the others full`, async (t) => {
  const cluster = await F.start({ nodes: 3, config: { max_capacity_of_workspace: 3 } });
  const [A, B] = cluster.nodes;
  const winnersByNode = [0, 0, 0];
  for (let round = 0; round < ROUNDS; round++) {
    const owner = await C.createOn(T, A, L.V4_WS, { name: `race-${round}`, label: `owner@1 r${round}` });
    const member = await C.attendOn(T, B, L.V2_WS, owner.W, { name: 'seated', others: [owner], label: `seated@2 r${round}` });
    // Two of three seats taken: connect the joiners first, then fire in one tick.
    const joiners = await Promise.all(cluster.nodes.map((srv, i) => T.conn(srv, JOINER_VARIANTS[(round + i) % JOINER_VARIANTS.length], `joiner@${i + 1} r${round}`)));
    const marks = L.mark([owner.sock, member.sock, ...joiners]);
    for (const [i, j] of joiners.entries()) j.emit('attend', { workspace: { token: owner.W.token, pin: '' }, attendee: { name: `j${i + 1}`, avatar: 'j.png' } });
    const answers = await Promise.all(joiners.map((j) => L.nextEntry(j, L.REPLIES, { since: marks.get(j) })));
    const events = answers.map((a) => a.event);
    const won = events.map((e, i) => (e === 'attendance-granted' ? i : -1)).filter((i) => i >= 0);
    assert.equal(won.length, 1, `round ${round}: exactly one winner, got ${JSON.stringify(answers.map((a) => [a.event, a.payload]))}`);
    for (const [i, a] of answers.entries()) {
      if (i !== won[0]) assert.deepEqual([a.event, a.payload], ['full', {}], `round ${round}: joiner on node ${i + 1} is told full`);
    }
    winnersByNode[won[0]] += 1;
    const winner = answers[won[0]].payload;
    assert.deepEqual(winner.attendees, { ...C.attendeesMap(owner, member), [winner.attendee.id]: winner.attendee });
    // The room hears of the winner, once, and of nobody else.
    const seen = [];
    for (const x of [owner, member]) {
      const e = await L.nextEntry(x.sock, 'attend', { since: marks.get(x.sock) });
      assert.deepEqual(e.payload, winner.attendee);
      seen.push(e);
    }
    await L.quiet(marks, [...answers, ...seen]);
    const list = await C.attendeesOf(member);
    assert.deepEqual(list.payload, { attendees: winner.attendees }, `round ${round}: three members in the shared state`);
    L.close(T.sockets.splice(0));
  }
  t.diagnostic(`last-seat race: winners by node over ${ROUNDS} rounds: ${JSON.stringify(winnersByNode)}`);
});
