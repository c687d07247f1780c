'use strict';
// Issue 23, step 1: the operator HTTP API (`/api/v1`, on with
// OPERATOR_API_KEYS) on one node. The settings (off without keys, a short
// key refuses the start), the keys (two at once, 401, the throttle of failed
// attempts), the bodies (400, 413), the OpenAPI document, each endpoint
// against the socket side as socket.io-client 2 sees it, and
// operator_address (a listener of its own).

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const L = require('../harness.js');
const D = require('../deploy/lib.js');
const { freePort } = require('../redis.js');

const { TEXT } = L;
// Before the cleanup of `T` (hooks run in order): no server died, no client saw a malformed event.
afterEach(() => {
  for (const srv of T.servers) if (srv.url) srv.assertAlive();
  assert.deepEqual(L.takeViolations(), [], 'server events must be 42["name", ONE_ARGUMENT] without acks');
});
const T = L.tracked(afterEach);

const KEY = L.newApiKey();
const KEY2 = L.newApiKey();
const WS = '/api/v1/workspaces';
const OPENAPI = '/api/v1/openapi.json';
const ws = (id) => `${WS}/${id}`;
const seats = (id) => `${WS}/${id}/attendees`;
const seat = (id, attendee) => `${WS}/${id}/attendees/${attendee}`;

// A server with the operator API on (keys KEY and KEY2 unless `keys` says otherwise).
function startApi(config = {}, { keys = [KEY, KEY2], ...opts } = {}) {
  return T.start({ config, env: { OPERATOR_API_KEYS: keys.join(',') }, ...opts });
}

// A request with KEY (unless opts.key says otherwise).
const call = (srv, method, path, opts = {}) => L.api(srv, method, path, { key: KEY, ...opts });

const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const keysOf = (o) => Object.keys(o).sort();

// GET show, asserted 200; its attendees in id order (the contract names none).
async function show(srv, id, opts) {
  const s = L.apiOk(await call(srv, 'GET', ws(id), opts), 200, `GET ${ws(id)}`);
  assert.ok(Array.isArray(s.attendees), `show has an attendees array: ${JSON.stringify(s)}`);
  return { ...s, attendees: [...s.attendees].sort(byId) };
}

// What GET show must answer for workspace W (as `created` carries it) with
// `members`: [[attendee, owner?, connected?]...].
function showOf(W, members) {
  return {
    id: W.id, name: W.name, avatar: W.avatar, created: W.created, owner: W.owner, token: W.token,
    attendees: members.map(([a, owner, connected]) => ({ id: a.id, name: a.name, avatar: a.avatar, owner, connected })).sort(byId),
  };
}

// The entry of workspace `id` in the list (every page of 200).
async function listEntry(srv, id) {
  const l = L.apiOk(await call(srv, 'GET', `${WS}?limit=200`), 200, 'list');
  return l.workspaces.find((w) => w.id === id);
}

// What the list must show for W with `attendees` members, `connected` of them with a socket.
const entryOf = (W, attendees, connected) => ({
  id: W.id, name: W.name, avatar: W.avatar, created: W.created, owner: W.owner, attendees, connected,
});

// POST create (or seat) answers: exactly the fields of the socket's `created` without nonce.
function assertSession(c, { name, avatar, attendee, owner }) {
  assert.deepEqual(keysOf(c), ['accessToken', 'attendee', 'workspace'], JSON.stringify(c));
  assert.deepEqual(keysOf(c.workspace), ['avatar', 'created', 'id', 'name', 'owner', 'token'], JSON.stringify(c.workspace));
  assert.deepEqual(keysOf(c.attendee), ['avatar', 'id', 'name'], JSON.stringify(c.attendee));
  assert.match(c.workspace.id, L.ID_RE);
  assert.match(c.attendee.id, L.ID_RE);
  assert.equal(c.workspace.name, name);
  assert.equal(c.workspace.avatar, avatar);
  assert.equal(c.attendee.name, attendee.name);
  assert.equal(c.attendee.avatar, attendee.avatar);
  assert.equal(typeof c.workspace.created, 'number');
  assert.equal(typeof c.workspace.token, 'string');
  assert.ok(c.workspace.token.length > 0);
  assert.equal(typeof c.accessToken, 'string');
  assert.ok(c.accessToken.length > 0);
  if (owner) assert.equal(c.workspace.owner, c.attendee.id, 'the creator is the owner');
  else assert.notEqual(c.workspace.owner, c.attendee.id, 'a seat is not the owner');
}

async function createWs(srv, body = {}, opts = {}) {
  return L.apiOk(await call(srv, 'POST', WS, { body, ...opts }), 201, `POST ${WS} ${JSON.stringify(body).slice(0, 100)}`);
}

// A socket that takes up an API-made session (owner or seat) as a browser
// with a stored session does: `re-attend` with the full stored workspace.
async function takeUp(srv, session, variant, label) {
  const s = await T.conn(srv, variant, label);
  const r = await L.reAttend(s, session);
  assert.equal(r.event, 're-attendance-granted', `${label}: re-attend with the API's session: ${JSON.stringify(r)}`);
  assert.deepEqual(r.payload.attendee, session.attendee);
  return s;
}

// Asserts that `method path` on srv's main port is answered as an unknown
// path is: GET 404; another method as the same method on /no/such/path
// (the static files answer it: 405 where they do not exist).
async function asUnknownPath(srv, method, path, opts, what) {
  const r = await L.api(srv, method, path, { ...opts, base: srv.url });
  const u = await L.request(`${srv.url}/no/such/path`, { method });
  if (method === 'GET') assert.equal(u.status, 404, 'GET of an unknown path');
  assert.equal(r.status, u.status, `${what}: ${method} ${path} is answered as ${method} /no/such/path (${u.status}): ${r.status} ${r.body.slice(0, 200)}`);
}

const noCors = (r, what) => assert.deepEqual(Object.keys(r.headers).filter((h) => h.startsWith('access-control-')), [],
  `${what}: no CORS headers on /api/v1, got ${JSON.stringify(r.headers)}`);

function unauthorized(r, what) {
  L.apiError(r, 401, 'unauthorized', what);
  assert.match(String(r.headers['www-authenticate']), /^Bearer\b/, `${what}: WWW-Authenticate: Bearer, got ${r.headers['www-authenticate']}`);
}

// Retry-After in whole seconds, 1..=60 (the throttle's window is 60 s).
function retryAfter(r, what) {
  const v = r.headers['retry-after'];
  assert.match(String(v), /^\d+$/, `${what}: Retry-After in seconds, got ${v}`);
  const n = Number(v);
  assert.ok(n >= 1 && n <= 60, `${what}: Retry-After ${n} within the 60 s window`);
  return n;
}

describe('settings', () => {
  it('without OPERATOR_API_KEYS (unset or blank) every /api/v1 path is answered as an unknown path (GET: 404)', async () => {
    for (const keys of [undefined, '', '   ']) {
      const srv = await T.start({ env: { OPERATOR_API_KEYS: keys } });
      const what = `OPERATOR_API_KEYS ${keys === undefined ? 'unset' : JSON.stringify(keys)}`;
      const probes = [
        ['GET', WS, {}], ['GET', WS, { key: KEY }], ['POST', WS, { key: KEY, body: {} }], ['GET', OPENAPI, {}],
        ['GET', ws(L.fakeId('Ab')), { key: KEY }], ['DELETE', ws(L.fakeId('Ab')), { key: KEY }],
        ['POST', seats(L.fakeId('Ab')), { key: KEY, body: {} }],
      ];
      for (const [method, path, opts] of probes) await asUnknownPath(srv, method, path, opts, what);
      // The socket side is as ever.
      const s = await T.conn(srv, L.V2_POLL, 's');
      await L.create(s, { name: 'no-api' });
    }
  });

  it('a key shorter than 16 characters, or a blank one in the list, refuses the start (exit 2) naming OPERATOR_API_KEYS, never a key; 16 is enough', async () => {
    const short = 'fifteen-chars-x';
    assert.equal(short.length, 15);
    const cases = [[short, [short]], [`${KEY},${short}`, [KEY, short]], [`${KEY},`, [KEY]], [`${KEY}, ,${KEY2}`, [KEY, KEY2]]];
    for (const [value, keys] of cases) {
      const srv = await L.expectRefusedStart({ env: { OPERATOR_API_KEYS: value }, mentions: 'OPERATOR_API_KEYS' });
      assert.equal(srv.code, 2, `OPERATOR_API_KEYS=${value}: exit code 2 (a configuration problem), got ${srv.exitInfo}; stderr:\n${srv.stderr()}`);
      for (const k of keys) {
        assert.ok(!srv.stderr().includes(k), `stderr must not print the key ${k}:\n${srv.stderr()}`);
        assert.ok(!srv.stdout().includes(k), `stdout must not print the key ${k}:\n${srv.stdout()}`);
      }
    }
    const k16 = crypto.randomBytes(8).toString('hex');
    assert.equal(k16.length, 16);
    const srv = await startApi({}, { keys: [k16] });
    L.apiOk(await L.api(srv, 'GET', WS, { key: k16 }), 200, 'a 16-character key');
    for (const out of [srv.stdout(), srv.stderr()]) assert.ok(!out.includes(k16), `the key is never printed:\n${out}`);
  });
});

describe('keys', () => {
  it('every endpoint: either of two keys works; a wrong key or none is 401 unauthorized with WWW-Authenticate: Bearer and changes nothing; no CORS headers', async () => {
    const srv = await startApi();
    const headers = { origin: 'https://app.example' };
    const c = await createWs(srv, { name: 'auth' }, { headers });
    const id = c.workspace.id;
    const s1 = L.apiOk(await L.api(srv, 'POST', seats(id), { key: KEY2, body: { name: 'seat1' }, headers }), 201, 'a seat with the second key');
    const before = await show(srv, id);
    const listed = L.apiOk(await call(srv, 'GET', WS, { key: KEY2 }), 200, 'list with the second key');
    assert.deepEqual(listed.workspaces.map((w) => w.id), [id]);

    const endpoints = [
      ['GET', WS, undefined, 200],
      ['GET', ws(id), undefined, 200],
      ['POST', WS, { name: 'more' }, 201],
      ['PATCH', ws(id), { name: 'patched', pin: '1' }, 200],
      ['POST', seats(id), { name: 'seat2' }, 201],
      ['DELETE', seat(id, s1.attendee.id), undefined, 204],
      ['DELETE', ws(id), undefined, 204],
    ];
    // Refused, each from its own address (at most 10 failures from one: the throttle's bound).
    const refusals = [['a wrong key', { key: L.newApiKey(), localAddress: '127.0.0.2' }], ['no key', { localAddress: '127.0.0.3' }]];
    for (const [how, opts] of refusals) {
      for (const [method, path, body] of endpoints) {
        const what = `${method} ${path} with ${how}`;
        const r = await L.api(srv, method, path, { body, headers, ...opts });
        unauthorized(r, what);
        noCors(r, what);
      }
    }
    const near = [
      ['a prefix of the key', `Bearer ${KEY.slice(0, -1)}`],
      ['the key and one more character', `Bearer ${KEY}0`],
      ['both keys as one', `Bearer ${KEY},${KEY2}`],
      ['another scheme', `Basic ${KEY}`],
    ];
    for (const [how, authorization] of near) {
      unauthorized(await L.api(srv, 'GET', WS, { headers: { authorization }, localAddress: '127.0.0.4' }), `GET ${WS} with ${how}`);
    }
    unauthorized(await L.api(srv, 'GET', ws(L.fakeId('Qz')), { localAddress: '127.0.0.4' }), 'an unknown workspace without a key: 401, not 404');
    // Nothing changed.
    assert.deepEqual(await show(srv, id), before, 'refused requests changed nothing');
    assert.deepEqual(L.apiOk(await call(srv, 'GET', WS), 200, 'list').workspaces.map((w) => w.id), [id], 'no workspace was created');

    // With the keys (in turn), from the address that was refused: each answers.
    let i = 0;
    for (const [method, path, body, status] of endpoints) {
      const what = `${method} ${path} with key ${(i % 2) + 1}`;
      const r = await L.api(srv, method, path, { key: i++ % 2 ? KEY2 : KEY, body, headers, localAddress: '127.0.0.2' });
      L.apiOk(r, status, what);
      noCors(r, what);
    }
    L.apiError(await call(srv, 'GET', ws(id)), 404, 'not_found', 'the deleted workspace');
    // A preflight gets no CORS answer either.
    const pre = await L.api(srv, 'OPTIONS', WS, {
      localAddress: '127.0.0.5',
      headers: { ...headers, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    noCors(pre, `OPTIONS ${WS} (preflight): ${pre.status}`);
  });

  it('more than 10 failed attempts from one address: 429 too_many_attempts with Retry-After, even with a good key, until the window passes; other addresses go on', async () => {
    const srv = await startApi();
    const from = { localAddress: '127.0.0.7' };
    L.apiOk(await call(srv, 'GET', WS, from), 200, 'a good key before');
    for (let i = 1; i <= 10; i++) unauthorized(await L.api(srv, 'GET', WS, { key: L.newApiKey(), ...from }), `failed attempt ${i}`);
    const r11 = await L.api(srv, 'GET', WS, { key: L.newApiKey(), ...from });
    assert.ok([401, 429].includes(r11.status), `failed attempt 11: 401 or 429, got ${r11.status} ${r11.body}`);
    const r12 = await L.api(srv, 'GET', WS, { key: L.newApiKey(), ...from });
    L.apiError(r12, 429, 'too_many_attempts', 'failed attempt 12');
    retryAfter(r12, 'failed attempt 12');
    const good = await call(srv, 'GET', WS, from);
    L.apiError(good, 429, 'too_many_attempts', 'a good key from the throttled address');
    const wait = retryAfter(good, 'a good key from the throttled address');
    const t429 = Date.now();
    L.apiError(await call(srv, 'POST', WS, { body: { name: 'throttled' }, ...from }), 429, 'too_many_attempts', 'a create from the throttled address');
    // Another address: unaffected, and the refused create made nothing.
    const other = L.apiOk(await call(srv, 'GET', WS, { localAddress: '127.0.0.8' }), 200, 'a good key from another address');
    assert.deepEqual(other.workspaces, [], 'the throttled create made nothing');

    // Once Retry-After has passed, the good key works again (within 3 s more).
    await L.delay(Math.max(0, t429 + wait * 1000 - Date.now()));
    await L.poll(async () => (await call(srv, 'GET', WS, from)).status === 200,
      { timeout: 3000, every: 250, what: `a good key from the throttled address after Retry-After (${wait} s)` });
  });
});

describe('requests', () => {
  it('GET /api/v1/openapi.json without a key: OpenAPI 3 JSON whose paths list every endpoint and method', async () => {
    const srv = await startApi();
    const r = await L.api(srv, 'GET', OPENAPI);
    const doc = L.apiOk(r, 200, OPENAPI);
    assert.equal(typeof doc.openapi, 'string', `"openapi": ${JSON.stringify(doc.openapi)}`);
    assert.match(doc.openapi, /^3\./);
    assert.ok(doc.paths && typeof doc.paths === 'object', 'paths');
    // A relative server URL (e.g. "/api/v1") prefixes every path; parameter names are the document's own.
    const server = (doc.servers || []).map((s) => s.url).find((u) => typeof u === 'string' && u.startsWith('/')) || '';
    const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
    const listed = {};
    for (const [p, item] of Object.entries(doc.paths)) {
      listed[`${server.replace(/\/$/, '')}${p}`.replace(/\{[^}]+\}/g, '{}')] = Object.keys(item).filter((k) => METHODS.includes(k)).sort();
    }
    const expected = {
      '/api/v1/workspaces': ['get', 'post'],
      '/api/v1/workspaces/{}': ['delete', 'get', 'patch'],
      '/api/v1/workspaces/{}/attendees': ['post'],
      '/api/v1/workspaces/{}/attendees/{}': ['delete'],
    };
    for (const [p, methods] of Object.entries(expected)) {
      assert.deepEqual(listed[p], methods, `paths lists ${p} with ${methods.join(', ')}; listed: ${JSON.stringify(listed)}`);
    }
  });

  it('bodies: malformed JSON, wrong types and unknown fields are 400 bad_request; over 64 KiB 413 payload_too_large; neither changes anything', async () => {
    const srv = await startApi();
    const c = await createWs(srv, { name: 'bodies', pin: '12' });
    const id = c.workspace.id;
    const before = await show(srv, id);
    const BAD = [
      ['POST', WS, ['{"name":', '{"name": "x",}', '[]', '"x"', '42', { name: 5 }, { avatar: false }, { pin: 1234 },
        { owner: 'o' }, { owner: { name: 7 } }, { nme: 'x' }, { owner: { name: 'o', id: L.fakeId('Ow') } }, { name: 'x', token: 't' }]],
      ['PATCH', ws(id), ['{', '[]', { name: 5 }, { avatar: {} }, { pin: 1 }, { token: 'x' }, { owner: L.fakeId('Ow') }, { name: 'x', attendees: [] }]],
      ['POST', seats(id), ['{"name"}', '[]', { name: 1 }, { avatar: [] }, { id: L.fakeId('Se') }, { pin: '12' }, { name: 'x', owner: true }]],
    ];
    for (const [method, path, bodies] of BAD) {
      for (const body of bodies) {
        L.apiError(await call(srv, method, path, { body }), 400, 'bad_request', `${method} ${path} ${typeof body === 'string' ? body : JSON.stringify(body)}`);
      }
    }
    // 64 KiB is the most a body may be: exactly 65536 bytes is read, one more is 413.
    const padded = (json, size) => json + ' '.repeat(size - Buffer.byteLength(json));
    for (const [method, path] of [['POST', WS], ['PATCH', ws(id)], ['POST', seats(id)]]) {
      L.apiError(await call(srv, method, path, { body: padded('{"name":"big"}', 65537) }), 413, 'payload_too_large', `${method} ${path}: 65537 bytes`);
      L.apiError(await call(srv, method, path, { body: { name: 'n'.repeat(70000) } }), 413, 'payload_too_large', `${method} ${path}: a 70000-character name`);
    }
    assert.deepEqual(await show(srv, id), before, 'the refused bodies changed nothing');
    assert.deepEqual(L.apiOk(await call(srv, 'GET', WS), 200, 'list').workspaces.map((w) => w.id), [id], 'the refused creates made nothing');
    const edge = L.apiOk(await call(srv, 'POST', WS, { body: padded('{"name":"edge"}', 65536) }), 201, 'a create of exactly 65536 bytes');
    assert.equal(edge.workspace.name, 'edge');
  });

  it('ids, limits, paths and methods: a malformed or unknown id is 404 not_found; limit outside 1..=200 is 400; an unknown path or method a JSON error', async () => {
    const srv = await startApi();
    const c = await createWs(srv, { name: 'ids' });
    const id = c.workspace.id;
    const owner = c.attendee.id;
    const malformed = ['nope', '_abc', `${id}x`, id.slice(0, -1), `_${'a'.repeat(L.ID_LEN - 1)}-`, '%5F', L.fakeId('Zz')];
    for (const bad of malformed) {
      L.apiError(await call(srv, 'GET', ws(bad)), 404, 'not_found', `GET ${ws(bad)}`);
      L.apiError(await call(srv, 'PATCH', ws(bad), { body: { name: 'x' } }), 404, 'not_found', `PATCH ${ws(bad)}`);
      L.apiError(await call(srv, 'DELETE', ws(bad)), 404, 'not_found', `DELETE ${ws(bad)}`);
      L.apiError(await call(srv, 'POST', seats(bad), { body: {} }), 404, 'not_found', `POST ${seats(bad)}`);
      L.apiError(await call(srv, 'DELETE', seat(bad, owner)), 404, 'not_found', `DELETE ${seat(bad, owner)}`);
      L.apiError(await call(srv, 'DELETE', seat(id, bad)), 404, 'not_found', `DELETE ${seat(id, bad)}`);
    }
    assert.deepEqual(await show(srv, id), showOf(c.workspace, [[c.attendee, true, false]]), 'nothing changed');
    for (const limit of ['0', '201', '-1', 'abc', '1.5']) {
      L.apiError(await call(srv, 'GET', `${WS}?limit=${limit}`), 400, 'bad_request', `limit=${limit}`);
    }
    for (const limit of ['1', '200']) {
      assert.deepEqual(L.apiOk(await call(srv, 'GET', `${WS}?limit=${limit}`), 200, `limit=${limit}`),
        { workspaces: [entryOf(c.workspace, 1, 0)], next_cursor: null });
    }
    // Errors always have the one shape: an unknown path under /api/v1, and a
    // method the endpoint lacks (the contract names no code for it: 404 or 405, a snake_case code).
    L.apiError(await call(srv, 'GET', '/api/v1/nothing'), 404, 'not_found', 'an unknown path under /api/v1');
    for (const [method, path, body] of [['PUT', WS, {}], ['DELETE', WS], ['POST', ws(id), {}], ['PUT', ws(id), {}], ['GET', seats(id)], ['PATCH', seat(id, owner), {}]]) {
      L.apiError(await call(srv, method, path, { body }), [404, 405], /^[a-z]+(_[a-z]+)*$/, `${method} ${path}, a method it lacks`);
    }
  });

  it('list: ordered by id, paged by limit and next_cursor; 50 a page by default', async () => {
    const srv = await startApi();
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await createWs(srv, { name: `w${i}` })).workspace);
    const sorted = [...made].sort(byId);
    const all = L.apiOk(await call(srv, 'GET', WS), 200, 'list');
    assert.deepEqual(all, { workspaces: sorted.map((W) => entryOf(W, 1, 0)), next_cursor: null });
    // Pages of 2: 2, 2, 1, then next_cursor null.
    const pages = [];
    let cursor = null;
    for (let i = 0; i < 5; i++) {
      const page = L.apiOk(await call(srv, 'GET', `${WS}?limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`), 200, `page ${i + 1}`);
      assert.deepEqual(keysOf(page), ['next_cursor', 'workspaces']);
      pages.push(page.workspaces.map((w) => w.id));
      cursor = page.next_cursor;
      if (cursor === null) break;
      assert.equal(typeof cursor, 'string', `next_cursor: ${JSON.stringify(cursor)}`);
    }
    const ids = sorted.map((W) => W.id);
    assert.deepEqual(pages, [ids.slice(0, 2), ids.slice(2, 4), ids.slice(4)], 'pages of 2 in id order, the last one with next_cursor null');
    // 52 workspaces: the first page has 50, the next the 2 others.
    for (let i = 5; i < 52; i++) made.push((await createWs(srv, { name: `w${i}` })).workspace);
    const ids52 = made.map((W) => W.id).sort();
    const p1 = L.apiOk(await call(srv, 'GET', WS), 200, 'the default page');
    assert.deepEqual(p1.workspaces.map((w) => w.id), ids52.slice(0, 50), 'the first 50 by id');
    assert.equal(typeof p1.next_cursor, 'string');
    const p2 = L.apiOk(await call(srv, 'GET', `${WS}?cursor=${encodeURIComponent(p1.next_cursor)}`), 200, 'the second default page');
    assert.deepEqual({ ids: p2.workspaces.map((w) => w.id), next: p2.next_cursor }, { ids: ids52.slice(50), next: null });
  });

  it('create: the socket create\'s defaults; max_live_workspaces reached is 429 live_limit', async () => {
    const srv = await startApi({ max_live_workspaces: 2 });
    const t0 = Date.now();
    const d = await createWs(srv, {});
    assertSession(d, { name: L.CONFIG.untitled_workspace, avatar: L.CONFIG.default_workspace_avatar, owner: true,
      attendee: { name: L.CONFIG.anonymous_attendee, avatar: L.CONFIG.default_attendee_avatar } });
    assert.ok(Math.abs(d.workspace.created - t0) < 10000, `created ${d.workspace.created} is milliseconds since the epoch, now`);
    // No PIN: the token with the empty PIN is granted.
    const g = await T.conn(srv, L.V2_WS, 'guest');
    const grant = await L.attendOk(g, d.workspace.token, '', 'guest');
    assert.equal(grant.workspace.id, d.workspace.id);
    const e = await createWs(srv, { name: 'second', owner: { name: 'boss' } });
    assertSession(e, { name: 'second', avatar: L.CONFIG.default_workspace_avatar, owner: true,
      attendee: { name: 'boss', avatar: L.CONFIG.default_attendee_avatar } });
    L.apiError(await call(srv, 'POST', WS, { body: { name: 'third' } }), 429, 'live_limit', 'a third create past max_live_workspaces = 2');
    assert.deepEqual((await L.ask(g, 'create', { workspace: { name: 'x', pin: '' }, attendee: { name: 'o' } })),
      { event: 'alert', payload: TEXT.LIVE_LIMIT }, 'the socket create meets the same limit');
    L.apiOk(await call(srv, 'DELETE', ws(e.workspace.id)), 204, 'delete one');
    await createWs(srv, { name: 'third' });
  });
});

describe('with socket.io-client 2', () => {
  it('a workspace made with a PIN is joined with its token and PIN; show and list follow the members and their sockets', async () => {
    const srv = await startApi({ presence_grace_secs: 600 });
    const c = await createWs(srv, { name: 'made by api', avatar: 'api.png', pin: '2468', owner: { name: 'operator', avatar: 'op.png' } });
    assertSession(c, { name: 'made by api', avatar: 'api.png', owner: true, attendee: { name: 'operator', avatar: 'op.png' } });
    const W = c.workspace;
    const owner = c.attendee;
    assert.deepEqual(await show(srv, W.id), showOf(W, [[owner, true, false]]), 'the owner has never connected');
    assert.deepEqual(await listEntry(srv, W.id), entryOf(W, 1, 0));

    const g = await T.conn(srv, L.V2_POLL, 'guest');
    assert.deepEqual(await L.attend(g, W.token, '1357', 'guest'), { event: 'alert', payload: TEXT.PIN }, 'a wrong PIN');
    const grant = await L.attendOk(g, W.token, '2468', 'guest');
    const guest = grant.attendee;
    assert.deepEqual([grant.workspace.id, grant.workspace.owner, grant.workspace.name, grant.workspace.token], [W.id, owner.id, W.name, W.token]);
    assert.deepEqual(grant.attendees, { [owner.id]: owner, [guest.id]: guest });
    assert.deepEqual(await show(srv, W.id), showOf(W, [[owner, true, false], [guest, false, true]]));
    assert.deepEqual(await listEntry(srv, W.id), entryOf(W, 2, 1));

    // The owner's session from the API, on a socket (websocket); the guest hears it.
    const o = await takeUp(srv, c, L.V2_WS, 'owner');
    assert.deepEqual(await L.waitFor(g, 'attend'), owner, 'the guest hears the owner come');
    assert.deepEqual(await show(srv, W.id), showOf(W, [[owner, true, true], [guest, false, true]]));
    assert.deepEqual(await listEntry(srv, W.id), entryOf(W, 2, 2));

    // The guest's socket goes: within the grace it is a member without a socket.
    const m = L.mark(o);
    L.close(g);
    const after = await L.poll(async () => {
      const s = await show(srv, W.id);
      return s.attendees.some((a) => a.id === guest.id && a.connected === false) && s;
    }, { timeout: 5000, what: 'the guest to show connected: false' });
    assert.deepEqual(after, showOf(W, [[owner, true, true], [guest, false, false]]));
    assert.deepEqual(await listEntry(srv, W.id), entryOf(W, 2, 1));
    await L.quiet(m);
  });

  it('DELETE an attendee: it and the room hear kicked {id, name}; its token is refused after; the owner is 409, a non-member 404', async () => {
    const srv = await startApi({ presence_grace_secs: 600 });
    const c = await createWs(srv, { name: 'kick', pin: '77' });
    const W = c.workspace;
    const o = await takeUp(srv, c, L.V2_WS, 'owner');
    const a = await T.conn(srv, L.V2_POLL, 'alice');
    const ga = await L.attendOk(a, W.token, '77', 'alice');
    const b = await T.conn(srv, L.V2_WS, 'bob');
    const gb = await L.attendOk(b, W.token, '77', 'bob');
    assert.deepEqual(await L.waitFor(o, 'attend'), ga.attendee);
    for (const s of [o, a]) assert.deepEqual(await L.waitFor(s, 'attend'), gb.attendee, `${s.__label} hears bob attend`);
    L.drain(o, a, b);

    let m = L.mark(o, a, b);
    L.apiOk(await call(srv, 'DELETE', seat(W.id, ga.attendee.id)), 204, 'kick alice');
    const kicked = { id: ga.attendee.id, name: 'alice' };
    const seen = [];
    for (const s of [a, o, b]) {
      const e = await L.nextEntry(s, 'kicked', { since: m.get(s) });
      assert.deepEqual(e.payload, kicked, `${s.__label} hears kicked`);
      seen.push(e);
    }
    await L.quiet(m, seen);
    assert.deepEqual(await show(srv, W.id), showOf(W, [[c.attendee, true, true], [gb.attendee, false, true]]));

    // Her old access token is refused, on her socket and on a new one.
    const old = { workspace: ga.workspace, attendee: ga.attendee, accessToken: ga.accessToken };
    assert.deepEqual(await L.ask(a, 'attendees', { workspace: { id: W.id }, attendee: { id: ga.attendee.id }, accessToken: ga.accessToken }),
      { event: 'alert', payload: TEXT.NOACCESS }, 'attendees with the kicked token');
    const a2 = await T.conn(srv, L.V2_POLL, 'alice-reloaded');
    assert.deepEqual(await L.reAttend(a2, old), { event: 'alert', payload: TEXT.NOACCESS }, 're-attend with the kicked token');
    // Her socket left the room: bob's mic-toggle reaches the owner only.
    m = L.mark(a, a2);
    b.emit('mic-toggle', { workspace: { id: W.id }, attendee: { id: gb.attendee.id }, state: false, accessToken: gb.accessToken });
    assert.deepEqual(await L.waitFor(o, 'mic-toggle'), { attendee: { id: gb.attendee.id }, state: false });
    await L.quiet(m);

    L.apiError(await call(srv, 'DELETE', seat(W.id, ga.attendee.id)), 404, 'not_found', 'alice again: no longer a member');
    m = L.mark(o, b);
    L.apiError(await call(srv, 'DELETE', seat(W.id, c.attendee.id)), 409, 'owner_cannot_be_removed', 'the owner');
    await L.quiet(m);
    assert.deepEqual(await show(srv, W.id), showOf(W, [[c.attendee, true, true], [gb.attendee, false, true]]), 'the owner stays');
    // She may come back through the invite (a new attendee).
    const back = await L.attendOk(a2, W.token, '77', 'alice');
    assert.notEqual(back.attendee.id, ga.attendee.id);
  });

  it('DELETE a workspace: every client hears destroyed {}; then it is 404 everywhere and its tokens answer destroyed', async () => {
    const srv = await startApi({ presence_grace_secs: 600 });
    const c = await createWs(srv, { name: 'doomed', pin: '3' });
    const W = c.workspace;
    const other = await createWs(srv, { name: 'bystander' });
    const o = await takeUp(srv, c, L.V2_WS, 'owner');
    const a = await T.conn(srv, L.V2_POLL, 'alice');
    const ga = await L.attendOk(a, W.token, '3', 'alice');
    const b = await T.conn(srv, L.V2_WS, 'bob');
    const gb = await L.attendOk(b, W.token, '3', 'bob');
    assert.deepEqual(await L.waitFor(o, 'attend'), ga.attendee);
    for (const s of [o, a]) assert.deepEqual(await L.waitFor(s, 'attend'), gb.attendee, `${s.__label} hears bob attend`);
    const x = await takeUp(srv, other, L.V2_POLL, 'bystander');
    L.drain(o, a, b, x);
    const m = L.mark(o, a, b, x);
    L.apiOk(await call(srv, 'DELETE', ws(W.id)), 204, 'destroy');
    const seen = [];
    for (const s of [o, a, b]) {
      const e = await L.nextEntry(s, 'destroyed', { since: m.get(s) });
      assert.deepEqual(e.payload, {}, `${s.__label} hears destroyed {}`);
      seen.push(e);
    }
    await L.quiet(m, seen);
    L.apiError(await call(srv, 'GET', ws(W.id)), 404, 'not_found', 'show after destroy');
    L.apiError(await call(srv, 'DELETE', ws(W.id)), 404, 'not_found', 'destroy again');
    L.apiError(await call(srv, 'PATCH', ws(W.id), { body: { name: 'x' } }), 404, 'not_found', 'patch after destroy');
    L.apiError(await call(srv, 'POST', seats(W.id), { body: {} }), 404, 'not_found', 'a seat after destroy');
    assert.deepEqual(L.apiOk(await call(srv, 'GET', WS), 200, 'list').workspaces.map((w) => w.id), [other.workspace.id]);
    assert.deepEqual(await L.ask(a, 'attendees', { workspace: { id: W.id }, attendee: { id: ga.attendee.id }, accessToken: ga.accessToken }),
      { event: 'destroyed', payload: {} }, 'an access token of the destroyed workspace');
    const late = await T.conn(srv, L.V2_POLL, 'late');
    assert.deepEqual(await L.attend(late, W.token, '3', 'late'), { event: 'destroyed', payload: {} }, 'its invite token');
  });

  it('PATCH: a new pin makes a new invite token and the old one is refused; name and avatar show', async () => {
    const srv = await startApi({ max_failed_pins_per_ip: 100, max_capacity_of_workspace: 8 });
    const c = await createWs(srv, { name: 'before', pin: '1111' });
    const W = c.workspace;
    const early = await T.conn(srv, L.V2_POLL, 'early');
    await L.attendOk(early, W.token, '1111', 'early');

    const p = L.apiOk(await call(srv, 'PATCH', ws(W.id), { body: { pin: '2222' } }), 200, 'a new pin');
    assert.deepEqual(keysOf(p), ['attendees', 'avatar', 'created', 'id', 'name', 'owner', 'token']);
    assert.equal(typeof p.token, 'string');
    assert.notEqual(p.token, W.token, 'a new invite token');
    assert.deepEqual({ ...p, attendees: [...p.attendees].sort(byId) }, await show(srv, W.id), 'PATCH answers what GET shows');
    assert.deepEqual([p.name, p.avatar, p.owner, p.created], [W.name, W.avatar, W.owner, W.created]);

    const s = await T.conn(srv, L.V2_WS, 'late');
    for (const [token, pin, what] of [[W.token, '2222', 'the old token, the new PIN'], [W.token, '1111', 'the old token, the old PIN'],
      [p.token, '1111', 'the new token, the old PIN']]) {
      assert.deepEqual(await L.attend(s, token, pin, 'late'), { event: 'alert', payload: TEXT.PIN }, what);
    }
    const grant = await L.attendOk(s, p.token, '2222', 'late');
    assert.equal(grant.workspace.token, p.token, 'the grant carries the new token');

    const q = L.apiOk(await call(srv, 'PATCH', ws(W.id), { body: { name: 'after', avatar: 'after.png' } }), 200, 'a new name and avatar');
    assert.deepEqual([q.name, q.avatar, q.token], ['after', 'after.png', p.token], 'no pin: the token stays');
    const shown = await show(srv, W.id);
    assert.deepEqual([shown.name, shown.avatar, shown.token], ['after', 'after.png', p.token]);
    assert.deepEqual(await listEntry(srv, W.id), entryOf({ ...W, name: 'after', avatar: 'after.png' }, 3, 2));
    const s2 = await T.conn(srv, L.V2_POLL, 'later');
    const g2 = await L.attendOk(s2, p.token, '2222', 'later');
    assert.deepEqual([g2.workspace.name, g2.workspace.avatar], ['after', 'after.png'], 'a grant carries the new name');

    // The empty pin: no PIN from then on, with another new token.
    const r = L.apiOk(await call(srv, 'PATCH', ws(W.id), { body: { pin: '' } }), 200, 'the empty pin');
    assert.ok(![W.token, p.token].includes(r.token), 'another new token');
    const s3 = await T.conn(srv, L.V2_WS, 'open');
    assert.deepEqual(await L.attend(s3, r.token, '2222', 'open'), { event: 'alert', payload: TEXT.PIN }, 'the PIN is gone');
    assert.deepEqual(await L.attend(s3, p.token, '2222', 'open'), { event: 'alert', payload: TEXT.PIN }, 'the token before is refused');
    await L.attendOk(s3, r.token, '', 'open');
  });

  it('POST a seat: its session re-attends (re-attendance-granted) and the room hears attend; no seat left is 409 full', async () => {
    const srv = await startApi({ max_capacity_of_workspace: 3, presence_grace_secs: 600 });
    const c = await createWs(srv, { name: 'seats', pin: '55' });
    const W = c.workspace;
    const o = await takeUp(srv, c, L.V2_WS, 'owner');
    const g = await T.conn(srv, L.V2_POLL, 'guest');
    const gg = await L.attendOk(g, W.token, '55', 'guest');
    assert.deepEqual(await L.waitFor(o, 'attend'), gg.attendee, 'the owner hears the guest attend');
    L.drain(o, g);

    const s = L.apiOk(await call(srv, 'POST', seats(W.id), { body: { name: 'minted', avatar: 'minted.png' } }), 201, 'a seat');
    assertSession(s, { name: W.name, avatar: W.avatar, owner: false, attendee: { name: 'minted', avatar: 'minted.png' } });
    assert.deepEqual(s.workspace, W, 'the seat\'s workspace is the workspace as created');
    assert.ok(![c.attendee.id, gg.attendee.id].includes(s.attendee.id), 'a new attendee');
    assert.deepEqual(await show(srv, W.id), showOf(W, [[c.attendee, true, true], [gg.attendee, false, true], [s.attendee, false, false]]),
      'the seat is a member without a socket');

    // Full: the API and the socket side agree.
    L.apiError(await call(srv, 'POST', seats(W.id), { body: {} }), 409, 'full', 'a fourth seat of 3');
    const x = await T.conn(srv, L.V2_WS, 'extra');
    assert.deepEqual(await L.attend(x, W.token, '55', 'extra'), { event: 'full', payload: {} }, 'a socket attend when full');

    // The browser takes the seat up as a stored session.
    const sock = await T.conn(srv, L.V2_POLL, 'minted');
    const m = L.mark(o, g);
    const r = await L.ask(sock, 're-attend', { workspace: { id: W.id }, attendee: s.attendee, accessToken: s.accessToken });
    assert.equal(r.event, 're-attendance-granted', `re-attend with the seat: ${JSON.stringify(r)}`);
    assert.deepEqual(r.payload.attendee, s.attendee);
    assert.equal(r.payload.workspace.id, W.id);
    assert.deepEqual(r.payload.attendees, { [c.attendee.id]: c.attendee, [gg.attendee.id]: gg.attendee, [s.attendee.id]: s.attendee });
    const seen = [];
    for (const x2 of [o, g]) {
      const e = await L.nextEntry(x2, 'attend', { since: m.get(x2) });
      assert.deepEqual(e.payload, s.attendee, `${x2.__label} hears the seat attend`);
      seen.push(e);
    }
    await L.quiet(m, seen);
    assert.deepEqual(await show(srv, W.id), showOf(W, [[c.attendee, true, true], [gg.attendee, false, true], [s.attendee, false, true]]));

    // A seat with the defaults, on another workspace.
    const d = await createWs(srv, { name: 'other' });
    const ds = L.apiOk(await call(srv, 'POST', seats(d.workspace.id), { body: {} }), 201, 'a seat with the defaults');
    assertSession(ds, { name: 'other', avatar: L.CONFIG.default_workspace_avatar, owner: false,
      attendee: { name: L.CONFIG.anonymous_attendee, avatar: L.CONFIG.default_attendee_avatar } });
  });
});

describe('listeners', () => {
  it('operator_address = "ip:port": the API answers there; on the main port it is an unknown path (GET: 404)', async () => {
    const port = await freePort();
    const srv = await startApi({ operator_address: `127.0.0.1:${port}` });
    const base = `http://127.0.0.1:${port}`;
    await L.poll(async () => (await L.api(srv, 'GET', OPENAPI, { base, timeout: 1000 })).status === 200,
      { timeout: 5000, what: `the operator listener on ${base}` });
    const c = await createWs(srv, { name: 'elsewhere', pin: '9' }, { base });
    assert.deepEqual(L.apiOk(await call(srv, 'GET', WS, { base }), 200, 'list there').workspaces.map((w) => w.id), [c.workspace.id]);
    unauthorized(await L.api(srv, 'GET', WS, { base, localAddress: '127.0.0.2' }), 'no key there');
    for (const [method, path, body] of [['GET', WS], ['POST', WS, {}], ['GET', OPENAPI], ['GET', ws(c.workspace.id)], ['DELETE', ws(c.workspace.id)]]) {
      await asUnknownPath(srv, method, path, { key: KEY, body }, 'the main port');
    }
    // The sockets stay on the main port, and see what the operator listener made.
    const g = await T.conn(srv, L.V2_POLL, 'guest');
    const grant = await L.attendOk(g, c.workspace.token, '9', 'guest');
    assert.deepEqual(await show(srv, c.workspace.id, { base }), showOf(c.workspace, [[c.attendee, true, false], [grant.attendee, false, true]]));
  });

  it('with HTTPS on the main port the API is served over HTTPS there; operator_address is a plain HTTP listener', async () => {
    const dir = T.dir('wrw-api-tls-');
    const ca = D.makeCA(dir);
    const cert = D.makeServerCert(dir, ca, { cn: 'wrw-api', serial: 0x2301n });
    const tls = { key: cert.key, cert: cert.cert, ca: ca.cert };
    const caPem = fs.readFileSync(ca.cert);

    const srv = await startApi({}, { https: tls });
    assert.match(srv.url, /^https:/);
    const c = await createWs(srv, { name: 'over tls' }, { ca: caPem });
    assert.deepEqual(await show(srv, c.workspace.id, { ca: caPem }), showOf(c.workspace, [[c.attendee, true, false]]));
    unauthorized(await L.api(srv, 'GET', WS, { ca: caPem, localAddress: '127.0.0.2' }), 'no key over HTTPS');
    const g = await T.conn(srv, L.V2_POLL, 'guest', { ca: caPem, rejectUnauthorized: true });
    await L.attendOk(g, c.workspace.token, '', 'guest');

    const port = await freePort();
    const sep = await startApi({ operator_address: `127.0.0.1:${port}` }, { https: tls });
    const base = `http://127.0.0.1:${port}`;
    await L.poll(async () => (await L.api(sep, 'GET', OPENAPI, { base, timeout: 1000 })).status === 200,
      { timeout: 5000, what: `the plain HTTP operator listener on ${base}` });
    const d = await createWs(sep, { name: 'plain' }, { base });
    assert.deepEqual(L.apiOk(await call(sep, 'GET', WS, { base }), 200, 'list there').workspaces.map((w) => w.id), [d.workspace.id]);
    const main = await call(sep, 'GET', WS, { ca: caPem });
    assert.equal(main.status, 404, `GET ${WS} on the HTTPS main port with operator_address set: ${main.status} ${main.body.slice(0, 200)}`);
  });
});
