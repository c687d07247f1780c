'use strict';
// Issue 23, step 1: the operator API in a cluster. Three nodes on one
// redis-server, each serving /api/v1 with the same key: what one node's API
// makes or changes, the other nodes' APIs show and their clients hear
// (socket.io-client 2). And with Redis away, the API answers 503 unavailable.

const { it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const C = require('./lib.js');

const { TEXT } = L;
const KEY = L.newApiKey();
const WS = '/api/v1/workspaces';
const ws = (id) => `${WS}/${id}`;
const call = (srv, method, path, opts = {}) => L.api(srv, method, path, { key: KEY, ...opts });

// A cluster whose every node serves the operator API with KEY.
const apiCluster = (made, { nodes = 3, config = {} } = {}) =>
  made.start({ nodes, config, env: { OPERATOR_API_KEYS: KEY } });

// GET show on srv (asserted 200), its attendees in id order.
async function show(srv, id) {
  const s = L.apiOk(await call(srv, 'GET', ws(id)), 200, `GET ${ws(id)} on ${srv.label}`);
  return { ...s, attendees: [...s.attendees].sort((a, b) => (a.id < b.id ? -1 : 1)) };
}

// The attendees of a show as [[id, connected]...], in id order.
const presence = (s) => s.attendees.map((a) => [a.id, a.connected]);

async function listEntry(srv, id) {
  const l = L.apiOk(await call(srv, 'GET', `${WS}?limit=200`), 200, `list on ${srv.label}`);
  return l.workspaces.find((w) => w.id === id);
}

async function createOn(srv, body) {
  return L.apiOk(await call(srv, 'POST', WS, { body }), 201, `POST ${WS} on ${srv.label}`);
}

// The owner's session from the API, taken up by a socket on srv.
async function ownerOn(T, srv, c, variant, label) {
  const s = await T.conn(srv, variant, label);
  const r = await L.reAttend(s, c);
  assert.equal(r.event, 're-attendance-granted', `${label}: re-attend with the API's session: ${JSON.stringify(r)}`);
  return s;
}

const F = C.clusters(after);
let cluster;
before(async () => {
  cluster = await apiCluster(F, { config: { presence_grace_secs: 30 } });
});
// Before the per-test cleanup below (hooks run in order).
afterEach(() => {
  for (const n of cluster.nodes) n.assertAlive();
  assert.deepEqual(L.takeViolations(), [], 'server events must be 42["name", ONE_ARGUMENT] without acks');
});
const T = C.clusters(afterEach);

it('a workspace made through node 1 is listed and shown by nodes 2 and 3, and joined by a client on node 2', async () => {
  const [A, B, N3] = cluster.nodes;
  const c = await createOn(A, { name: 'from node 1', pin: '31', owner: { name: 'op' } });
  const W = c.workspace;
  const shownA = await show(A, W.id);
  assert.deepEqual([shownA.token, shownA.owner, presence(shownA)], [W.token, c.attendee.id, [[c.attendee.id, false]]]);
  for (const n of [B, N3]) {
    assert.deepEqual(await show(n, W.id), shownA, `show on ${n.label}`);
    assert.deepEqual(await listEntry(n, W.id), { id: W.id, name: W.name, avatar: W.avatar, created: W.created, owner: W.owner, attendees: 1, connected: 0 },
      `list on ${n.label}`);
  }

  const g = await T.conn(B, L.V2_POLL, 'guest@2');
  const grant = await L.attendOk(g, W.token, '31', 'guest');
  assert.equal(grant.workspace.id, W.id);
  const guest = grant.attendee;
  const want = [[c.attendee.id, false], [guest.id, true]].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  // Node 3 sees the guest and its socket on node 2 (presence crosses nodes).
  await L.poll(async () => JSON.stringify(presence(await show(N3, W.id))) === JSON.stringify(want),
    { timeout: 5000, what: 'node 3 to show the guest of node 2, connected' });
  assert.deepEqual((await listEntry(A, W.id)).attendees, 2);

  // The owner's session, on node 3; the guest on node 2 hears it.
  await ownerOn(T, N3, c, L.V2_WS, 'owner@3');
  assert.deepEqual(await L.waitFor(g, 'attend'), c.attendee, 'the guest on node 2 hears the owner attend on node 3');
  await L.poll(async () => {
    const e = await listEntry(A, W.id);
    return e.attendees === 2 && e.connected === 2;
  }, { timeout: 5000, what: 'node 1 to list 2 attendees, 2 connected' });
});

it('a kick through node 3 is heard by the client on node 2 and the others; its token is refused after, on every node', async () => {
  const [A, B, N3] = cluster.nodes;
  const c = await createOn(A, { name: 'kick across', pin: '5' });
  const W = c.workspace;
  const o = await ownerOn(T, A, c, L.V2_WS, 'owner@1');
  const a = await T.conn(B, L.V2_POLL, 'alice@2');
  const ga = await L.attendOk(a, W.token, '5', 'alice');
  const b = await T.conn(N3, L.V2_WS, 'bob@3');
  const gb = await L.attendOk(b, W.token, '5', 'bob');
  assert.deepEqual(await L.waitFor(o, 'attend'), ga.attendee, 'the owner on node 1 hears alice attend');
  for (const s of [o, a]) assert.deepEqual(await L.waitFor(s, 'attend'), gb.attendee, `${s.__label} hears bob attend`);
  L.drain(o, a, b);

  const m = L.mark(o, a, b);
  L.apiOk(await call(N3, 'DELETE', `${ws(W.id)}/attendees/${ga.attendee.id}`), 204, 'kick alice through node 3');
  const kicked = { id: ga.attendee.id, name: 'alice' };
  const seen = [];
  for (const s of [a, o, b]) {
    const e = await L.nextEntry(s, 'kicked', { since: m.get(s) });
    assert.deepEqual(e.payload, kicked, `${s.__label} hears kicked`);
    seen.push(e);
  }
  await L.quiet(m, seen);

  assert.deepEqual(await L.ask(a, 'attendees', { workspace: { id: W.id }, attendee: { id: ga.attendee.id }, accessToken: ga.accessToken }),
    { event: 'alert', payload: TEXT.NOACCESS }, 'the kicked token on node 2');
  for (const n of [A, N3]) {
    const s = await T.conn(n, L.V2_POLL, `alice-reloaded@${n.label}`);
    assert.deepEqual(await L.reAttend(s, ga), { event: 'alert', payload: TEXT.NOACCESS }, `re-attend with the kicked token on ${n.label}`);
  }
  for (const n of cluster.nodes) {
    assert.deepEqual((await show(n, W.id)).attendees.map((x) => x.id).sort(), [c.attendee.id, gb.attendee.id].sort(), `show on ${n.label}`);
  }
  L.apiError(await call(B, 'DELETE', `${ws(W.id)}/attendees/${c.attendee.id}`), 409, 'owner_cannot_be_removed', 'the owner, through node 2');
  L.apiError(await call(A, 'DELETE', `${ws(W.id)}/attendees/${ga.attendee.id}`), 404, 'not_found', 'alice again, through node 1');
});

it('a destroy through node 1 is heard by the clients on nodes 2 and 3; then every node answers 404', async () => {
  const [A, B, N3] = cluster.nodes;
  const c = await createOn(B, { name: 'doomed across' });
  const W = c.workspace;
  const a = await T.conn(B, L.V2_POLL, 'alice@2');
  await L.attendOk(a, W.token, '', 'alice');
  const b = await T.conn(N3, L.V2_WS, 'bob@3');
  await L.attendOk(b, W.token, '', 'bob');
  await L.waitFor(a, 'attend');
  L.drain(a, b);
  const m = L.mark(a, b);
  L.apiOk(await call(A, 'DELETE', ws(W.id)), 204, 'destroy through node 1');
  const seen = [];
  for (const s of [a, b]) {
    const e = await L.nextEntry(s, 'destroyed', { since: m.get(s) });
    assert.deepEqual(e.payload, {}, `${s.__label} hears destroyed {}`);
    seen.push(e);
  }
  await L.quiet(m, seen);
  for (const n of cluster.nodes) {
    L.apiError(await call(n, 'GET', ws(W.id)), 404, 'not_found', `show on ${n.label} after the destroy`);
    assert.equal(await listEntry(n, W.id), undefined, `the list on ${n.label} no longer has it`);
  }
});

it('a seat minted through node 2 is taken up on node 3; a PIN changed through node 3 refuses the old token on node 1', async () => {
  const [A, B, N3] = cluster.nodes;
  const c = await createOn(A, { name: 'seats across', pin: '12' });
  const W = c.workspace;
  const o = await ownerOn(T, A, c, L.V2_WS, 'owner@1');
  const s = L.apiOk(await call(B, 'POST', `${ws(W.id)}/attendees`, { body: { name: 'minted' } }), 201, 'a seat through node 2');
  assert.deepEqual(s.workspace, W);
  assert.equal(s.attendee.name, 'minted');
  const sock = await T.conn(N3, L.V2_POLL, 'minted@3');
  const m = L.mark(o);
  const r = await L.ask(sock, 're-attend', { workspace: { id: W.id }, attendee: s.attendee, accessToken: s.accessToken });
  assert.equal(r.event, 're-attendance-granted', `re-attend with the seat on node 3: ${JSON.stringify(r)}`);
  assert.deepEqual(r.payload.attendees, { [c.attendee.id]: c.attendee, [s.attendee.id]: s.attendee });
  const e = await L.nextEntry(o, 'attend', { since: m.get(o) });
  assert.deepEqual(e.payload, s.attendee, 'the owner on node 1 hears the seat attend');

  const p = L.apiOk(await call(N3, 'PATCH', ws(W.id), { body: { pin: '34', name: 'renamed' } }), 200, 'a new pin through node 3');
  assert.notEqual(p.token, W.token);
  assert.equal(p.name, 'renamed');
  for (const n of cluster.nodes) {
    const shown = await show(n, W.id);
    assert.deepEqual([shown.token, shown.name], [p.token, 'renamed'], `show on ${n.label}`);
  }
  const late = await T.conn(A, L.V2_WS, 'late@1');
  assert.deepEqual(await L.attend(late, W.token, '34', 'late'), { event: 'alert', payload: TEXT.PIN }, 'the old token on node 1');
  const grant = await L.attendOk(late, p.token, '34', 'late');
  assert.equal(grant.workspace.name, 'renamed');
  assert.deepEqual(await L.waitFor(sock, 'attend'), grant.attendee, 'the seat on node 3 hears the newcomer of node 1');
});

it('Redis paused: the API answers 503 unavailable; resumed: it answers again', async () => {
  const own = await apiCluster(T, { nodes: 1, config: { presence_grace_secs: 30 } });
  const [A] = own.nodes;
  const c = await createOn(A, { name: 'before the outage' });
  own.redis.pause();
  try {
    L.apiError(await call(A, 'GET', WS, { timeout: 10000 }), 503, 'unavailable', 'list while Redis is paused');
    L.apiError(await call(A, 'POST', WS, { body: { name: 'during' }, timeout: 10000 }), 503, 'unavailable', 'create while Redis is paused');
  } finally {
    own.redis.resume();
  }
  const back = await L.poll(async () => {
    const r = await call(A, 'GET', WS, { timeout: 3000 });
    return r.status === 200 && r.json;
  }, { timeout: 10000, every: 200, what: 'the list to answer 200 again' });
  assert.deepEqual(back.workspaces.map((w) => w.id), [c.workspace.id], 'the create during the outage made nothing');
});
