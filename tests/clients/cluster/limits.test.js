'use strict';
// Issue #11: the shared limits. Wrong PINs from one address spread over
// three nodes lock that address for the workspace on every node; the
// creations per address are counted cluster-wide. Other addresses are not
// affected. The nodes trust 127.0.0.1 as a proxy, so that X-Forwarded-For
// gives each test client its own address.

const { it, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const C = require('./lib.js');

const { TEXT } = L;
const F = C.clusters(after);
const T = C.clusters(afterEach);
const xff = (ip) => ({ extraHeaders: { 'X-Forwarded-For': ip } });
const VARIANTS = [L.V4_WS, L.V2_POLL, L.V2_WS];

let cluster;
async function getCluster() {
  if (!cluster) {
    cluster = await F.start({
      nodes: 3,
      config: { trusted_proxies: ['127.0.0.1'], max_failed_pins_per_ip: 5, max_workspaces_per_ip_per_hour: 3, max_capacity_of_workspace: 10 },
    });
  }
  return cluster;
}

it('5 wrong PINs from one address spread over 3 nodes lock that address for the workspace on every node', async () => {
  const { nodes } = await getCluster();
  const owner = await C.createOn(T, nodes[0], L.V4_WS, { name: 'vault', pin: '2468', label: 'owner@1' });
  // One socket per node, all from 10.9.0.1: wrong PINs on nodes 1, 2, 3, 1, 2.
  const attacker = await Promise.all(nodes.map((n, i) => T.conn(n, VARIANTS[i], `attacker@${n.label}`, xff('10.9.0.1'))));
  const answers = [];
  for (let i = 0; i < 5; i++) {
    const r = await L.attend(attacker[i % 3], owner.W.token, `bad-${i}`);
    answers.push([`node ${(i % 3) + 1}`, r.event, r.payload]);
  }
  assert.deepEqual(answers, answers.map(([n]) => [n, 'alert', TEXT.PIN]), 'the first 5 wrong PINs are just wrong');
  // Now locked on every node, even with the right PIN, even on a new connection.
  for (const [i, n] of nodes.entries()) {
    assert.deepEqual(await L.attend(attacker[i], owner.W.token, '2468'), { event: 'alert', payload: TEXT.PIN_LOCKED }, `right PIN from the locked address on ${n.label}`);
    const fresh = await T.conn(n, L.V4_POLL, `attacker-again@${n.label}`, xff('10.9.0.1'));
    assert.deepEqual(await L.attend(fresh, owner.W.token, 'bad-again'), { event: 'alert', payload: TEXT.PIN_LOCKED }, `wrong PIN from the locked address on ${n.label}`);
  }
  // Another address joins on every node; the workspace itself is not locked.
  for (const [i, n] of nodes.entries()) {
    const other = await T.conn(n, VARIANTS[i], `other@${n.label}`, xff(`10.9.1.${i + 1}`));
    await L.attendOk(other, owner.W.token, '2468', `other${i + 1}`);
  }
  // The lock is per workspace: the locked address still joins another one.
  const second = await C.createOn(T, nodes[1], L.V2_WS, { name: 'other-vault', pin: '1357', label: 'owner2@2' });
  await L.attendOk(attacker[2], second.W.token, '1357', 'not-locked-here');
});

it('workspaces created per address are counted cluster-wide', async () => {
  const { nodes } = await getCluster();
  // max_workspaces_per_ip_per_hour = 3: one on each node, then the 4th is refused on every node.
  const creators = await Promise.all(nodes.map((n, i) => T.conn(n, VARIANTS[i], `creator@${n.label}`, xff('10.9.2.1'))));
  for (const [i, s] of creators.entries()) await L.create(s, { name: `c${i + 1}` });
  for (const [i, s] of creators.entries()) {
    assert.deepEqual(await L.ask(s, 'create', { workspace: { name: 'one-too-many' }, attendee: { name: 'o' } }),
      { event: 'alert', payload: TEXT.CREATE_LIMIT }, `the 4th creation from the address on node ${i + 1}`);
  }
  // Another address still creates.
  const other = await T.conn(nodes[2], L.V4_WS, 'creator-other@3', xff('10.9.2.2'));
  const w = await L.create(other, { name: 'fine' });
  assert.match(w.workspace.id, L.ID_RE);
});
