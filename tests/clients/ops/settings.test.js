'use strict';
// Settings (README "Settings" and "Security") shown taking effect on the
// wire: WORKSPACE_ID_LEN, tokenDelimiter, cors_origins, public_dir,
// failed_pin_window_secs, max_name_length / max_avatar_length,
// ping_interval_secs / ping_timeout_secs, and CONFIG_FILE. Each test runs the
// setting at a value other than its default, where the default would make it fail.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const L = require('../harness.js');

const { TEXT } = L;
const T = L.tracked(afterEach);
const { conn } = T;

const alert = (text) => ({ event: 'alert', payload: text });

describe('WORKSPACE_ID_LEN', () => {
  it('= 16: workspace and attendee ids have 16 characters after the "_", and the guard wants exactly that', async () => {
    const srv = await T.start({ config: { WORKSPACE_ID_LEN: 16 } });
    const re = L.idRe(16);
    const owner = await conn(srv, L.V4_WS, 'owner');
    const w = await L.create(owner, { name: 'long ids' });
    assert.match(w.workspace.id, re);
    assert.match(w.attendee.id, re);
    const guest = await conn(srv, L.V2_POLL, 'guest');
    const g = await L.attendOk(guest, w.workspace.token);
    assert.match(g.attendee.id, re);
    const list = (workspaceId, attendeeId) => L.ask(owner, 'attendees', { workspace: { id: workspaceId }, attendee: { id: attendeeId }, accessToken: w.accessToken });
    assert.deepEqual(await list(w.workspace.id, w.attendee.id),
      { event: 'attendees', payload: { attendees: { [w.attendee.id]: w.attendee, [g.attendee.id]: g.attendee } } });
    // Ids of the default length are malformed here.
    assert.deepEqual(await list(w.workspace.id.slice(0, 11), w.attendee.id), alert(TEXT.WSID));
    assert.deepEqual(await list(w.workspace.id, w.attendee.id.slice(0, 11)), alert(TEXT.ATTID));
  });
});

describe('tokenDelimiter', () => {
  it('keys the PIN check: after a restart with "|" the right PIN of a workspace made under ":" is wrong; under ":" again it is right', async () => {
    const dir = T.dir('wrw-ops-');
    const file = path.join(dir, 'store.json');
    const secrets = L.newSecrets();
    const config = { json_storage_file: file };
    let srv = await T.start({ dir, config, secrets });
    const w = await L.create(await conn(srv, L.V4_WS, 'owner'), { name: 'delimited', pin: '2468' });
    await L.attendOk(await conn(srv, L.V2_WS, 'first'), w.workspace.token, '2468', 'first');
    T.closeAll();
    await L.terminate(srv);

    srv = await T.start({ dir, config: { ...config, tokenDelimiter: '|' }, secrets });
    const bar = await conn(srv, L.V4_POLL, 'under |');
    assert.deepEqual(await L.attend(bar, w.workspace.token, '2468', 'bar'), alert(TEXT.PIN));
    // Only the PIN check changed: the owner's access token still re-attends.
    assert.equal((await L.reAttend(bar, w)).event, 're-attendance-granted');
    T.closeAll();
    await L.terminate(srv);

    srv = await T.start({ dir, config, secrets });
    await L.attendOk(await conn(srv, L.V2_POLL, 'under :'), w.workspace.token, '2468', 'colon');
  });
});

// A raw WebSocket upgrade request to the Engine.IO endpoint; resolves with the status (101 when accepted).
function upgrade(srv, eio, origin) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${srv.url}/socket.io/?EIO=${eio}&transport=websocket`, {
      agent: false,
      timeout: 5000,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket', Origin: origin,
        'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64'),
      },
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('timeout', () => req.destroy(new Error('upgrade: no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

describe('cors_origins', () => {
  const ALLOWED = 'http://app.example.test:8080';
  const OTHER = 'http://elsewhere.example.test';
  it('an allowed origin is echoed with credentials; another is refused on polling and on the WebSocket upgrade', async () => {
    const srv = await T.start({ config: { cors_origins: [ALLOWED] } });
    for (const eio of ['3', '4']) {
      const url = `${srv.url}/socket.io/?EIO=${eio}&transport=polling&t=abc`;
      const ok = await L.get(url, { headers: { Origin: ALLOWED } });
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.headers['access-control-allow-origin'], ALLOWED);
      assert.equal(ok.headers['access-control-allow-credentials'], 'true');
      assert.match(ok.body, /"sid"/);
      const no = await L.get(url, { headers: { Origin: OTHER } });
      assert.equal(no.status, 403, `EIO=${eio} polling from ${OTHER}: ${no.status} ${no.body}`);
      assert.equal(no.headers['access-control-allow-origin'], undefined);
      assert.doesNotMatch(no.body, /"sid"/);
      assert.equal(await upgrade(srv, eio, ALLOWED), 101, `EIO=${eio} upgrade from ${ALLOWED}`);
      assert.equal(await upgrade(srv, eio, OTHER), 403, `EIO=${eio} upgrade from ${OTHER}`);
    }
    // Real clients sending the Origin header: the allowed one is served, the other one refused.
    for (const variant of [L.V4_POLL, L.V4_WS]) {
      const s = await conn(srv, variant, `from ${ALLOWED}`, { extraHeaders: { Origin: ALLOWED } });
      assert.equal((await L.ask(s, 'iceservers', {})).event, 'iceservers');
      await assert.rejects(L.connect(srv.url, variant, { label: `from ${OTHER}`, extraHeaders: { Origin: OTHER } }),
        (e) => Boolean(e.connectError), `${variant.transport} from ${OTHER} must not connect`);
    }
  });
});

describe('public_dir', () => {
  it('static files come from the configured directory (relative to the working directory), not from public/', async () => {
    const dir = T.dir('wrw-ops-');
    fs.mkdirSync(path.join(dir, 'site', 'nested'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'site', 'hello.txt'), 'hello from public_dir\n');
    fs.writeFileSync(path.join(dir, 'site', 'nested', 'data.json'), '{"ok":true}');
    fs.mkdirSync(path.join(dir, 'public'));
    fs.writeFileSync(path.join(dir, 'public', 'hello.txt'), 'hello from public/\n');
    fs.writeFileSync(path.join(dir, 'public', 'default-only.txt'), 'x');
    const srv = await T.start({ dir, config: { public_dir: 'site' } });
    const hello = await L.get(`${srv.url}/hello.txt`);
    assert.deepEqual([hello.status, hello.body], [200, 'hello from public_dir\n']);
    assert.match(String(hello.headers['content-type']), /^text\/plain/);
    const data = await L.get(`${srv.url}/nested/data.json`);
    assert.deepEqual([data.status, data.body], [200, '{"ok":true}']);
    assert.match(String(data.headers['content-type']), /^application\/json/);
    assert.equal((await L.get(`${srv.url}/default-only.txt`)).status, 404);
    assert.equal((await L.get(`${srv.url}/`)).status, 200, 'GET / is still the status page');
    // Without the key, the same working directory serves public/.
    const plain = await T.start({ dir });
    assert.equal((await L.get(`${plain.url}/hello.txt`)).body, 'hello from public/\n');
  });
});

describe('failed_pin_window_secs', () => {
  it('= 1.5 (max_failed_pins_per_ip = 2): the lock lifts once the window since the first wrong PIN has passed', async () => {
    const WINDOW_MS = 1500;
    const srv = await T.start({ config: { max_failed_pins_per_ip: 2, failed_pin_window_secs: WINDOW_MS / 1000 } });
    const w = await L.create(await conn(srv, L.V4_WS, 'owner'), { name: 'locked', pin: '1357' });
    const g = await conn(srv, L.V2_WS, 'guesser');
    const t0 = performance.now();
    for (const pin of ['0000', '0001']) assert.deepEqual(await L.attend(g, w.workspace.token, pin, 'guesser'), alert(TEXT.PIN));
    assert.deepEqual(await L.attend(g, w.workspace.token, '1357', 'guesser'), alert(TEXT.PIN_LOCKED), 'locked after 2 wrong PINs');
    // The right PIN every 100 ms until it is let in: the lock is the only refusal on the way.
    const others = [];
    const granted = await L.poll(async () => {
      const r = await L.attend(g, w.workspace.token, '1357', 'guesser');
      if (r.event === 'attendance-granted') return r.payload;
      if (r.event !== 'alert' || r.payload !== TEXT.PIN_LOCKED) others.push(r);
      return null;
    }, { timeout: WINDOW_MS + 3000, every: 100, what: 'the PIN lock to lift' });
    const elapsed = performance.now() - t0;
    assert.deepEqual(others, [], 'answers other than the lock before it lifted');
    assert.equal(granted.workspace.id, w.workspace.id);
    assert.ok(elapsed >= WINDOW_MS - 50, `let in after ${Math.round(elapsed)} ms, within the ${WINDOW_MS} ms window`);
    assert.ok(elapsed <= WINDOW_MS + 1500, `let in only after ${Math.round(elapsed)} ms (window ${WINDOW_MS} ms)`);
  });
});

describe('max_name_length, max_avatar_length', () => {
  it('= 8 and 12: a longer name or avatar is refused naming the bound, the bound itself is accepted exactly (create and attend)', async () => {
    const srv = await T.start({ config: { max_name_length: 8, max_avatar_length: 12 } });
    const s = await conn(srv, L.V4_WS, 'creator');
    const [n8, a12] = ['n'.repeat(8), 'a'.repeat(12)];
    const smile8 = '\u{1F600}'.repeat(8); // characters, not UTF-16 units or bytes
    const ok = await L.ask(s, 'create', { workspace: { name: n8, avatar: a12 }, attendee: { name: smile8, avatar: a12 } });
    assert.equal(ok.event, 'created', JSON.stringify(ok));
    assert.deepEqual([ok.payload.workspace.name, ok.payload.workspace.avatar, ok.payload.attendee.name, ok.payload.attendee.avatar], [n8, a12, smile8, a12]);
    const create = (workspace, attendee) => L.ask(s, 'create', { workspace: { name: 'w', ...workspace }, attendee: { name: 'o', ...attendee } });
    assert.deepEqual(await create({ name: `${n8}n` }, {}), alert(TEXT.tooLong('workspace.name', 8)));
    assert.deepEqual(await create({ avatar: `${a12}a` }, {}), alert(TEXT.tooLong('workspace.avatar', 12)));
    assert.deepEqual(await create({}, { name: `${smile8}\u{1F600}` }), alert(TEXT.tooLong('attendee.name', 8)));
    assert.deepEqual(await create({}, { avatar: `${a12}a` }), alert(TEXT.tooLong('attendee.avatar', 12)));
    const g = await conn(srv, L.V2_POLL, 'guest');
    const attend = (attendee) => L.ask(g, 'attend', { workspace: { token: ok.payload.workspace.token }, attendee });
    assert.deepEqual(await attend({ name: `${n8}n` }), alert(TEXT.tooLong('attendee.name', 8)));
    assert.deepEqual(await attend({ name: 'g', avatar: `${a12}a` }), alert(TEXT.tooLong('attendee.avatar', 12)));
    const granted = await attend({ name: n8, avatar: a12 });
    assert.equal(granted.event, 'attendance-granted', JSON.stringify(granted));
    assert.deepEqual([granted.payload.attendee.name, granted.payload.attendee.avatar], [n8, a12]);
  });
});

// Opens a raw Engine.IO polling session and never polls again (no pong, no
// ping): resolves with its handshake {sid, pingInterval, pingTimeout, ...}.
async function silentSession(srv, eio) {
  const base = `${srv.url}/socket.io/?EIO=${eio}&transport=polling`;
  const open = await L.get(`${base}&t=open`);
  assert.equal(open.status, 200, open.body);
  const m = /\{[^{}]*"sid"[^{}]*\}/.exec(open.body);
  assert.ok(m, `an open packet: ${open.body}`);
  const hs = JSON.parse(m[0]);
  // Socket.IO CONNECT to "/" (EIO 3: the server connects "/" by itself).
  if (eio === '4') assert.equal((await L.request(`${base}&sid=${hs.sid}`, { method: 'POST', body: '40', headers: { 'content-type': 'text/plain;charset=UTF-8' } })).body, 'ok');
  return hs;
}

describe('ping_interval_secs, ping_timeout_secs', () => {
  it('= 1 and 1: the handshake says so, a client that stops answering is dropped within interval + timeout, live clients stay', async () => {
    const INTERVAL = 1000;
    const TIMEOUT = 1000;
    const srv = await T.start({ config: { ping_interval_secs: INTERVAL / 1000, ping_timeout_secs: TIMEOUT / 1000 } });
    const live = [await conn(srv, L.V4_WS, 'live v4'), await conn(srv, L.V2_WS, 'live v2'), await conn(srv, L.V4_POLL, 'live v4 polling')];
    const liveSince = performance.now();
    const opened = performance.now();
    const sessions = await Promise.all(['3', '4'].map((eio) => silentSession(srv, eio)));
    const openedBy = performance.now();
    for (const hs of sessions) assert.deepEqual([hs.pingInterval, hs.pingTimeout], [INTERVAL, TIMEOUT], JSON.stringify(hs));
    await L.poll(async () => (await L.health(srv)).sockets === live.length + 2, { timeout: 3000, every: 20, what: 'the silent sessions to be sockets' });
    await L.poll(async () => (await L.health(srv)).sockets === live.length,
      { timeout: INTERVAL + TIMEOUT + 2000, every: 50, what: `the silent sessions to be dropped (interval ${INTERVAL} + timeout ${TIMEOUT} ms)` });
    const dropped = performance.now();
    assert.ok(dropped - openedBy >= INTERVAL, `dropped ${Math.round(dropped - openedBy)} ms after the handshake, before one ping interval`);
    assert.ok(dropped - opened <= INTERVAL + TIMEOUT + 1500, `dropped only ${Math.round(dropped - opened)} ms after the handshake`);
    for (const [i, hs] of sessions.entries()) {
      const r = await L.get(`${srv.url}/socket.io/?EIO=${['3', '4'][i]}&transport=polling&sid=${hs.sid}`);
      assert.notEqual(r.status, 200, `the dropped session ${hs.sid} is gone: ${r.status} ${r.body}`);
    }
    // The clients that answer stay connected through three intervals.
    await L.delay(Math.max(0, liveSince + 3 * INTERVAL + 200 - performance.now()));
    for (const s of live) {
      assert.equal((await L.ask(s, 'iceservers', {})).event, 'iceservers');
      assert.deepEqual(s.__disconnects, [], `${s.__label} stays connected`);
    }
  });
});

describe('CONFIG_FILE', () => {
  it('names the config file read instead of ./config.js.toml (relative to the working directory, or absolute)', async () => {
    const dir = T.dir('wrw-ops-');
    fs.writeFileSync(path.join(dir, 'config.js.toml'), L.toml({ ...L.CONFIG, untitled_workspace: 'From config.js.toml' }));
    const named = { untitled_workspace: 'From CONFIG_FILE', anonymous_attendee: 'Named' };
    for (const name of ['conf/other.toml', path.join(dir, 'abs', 'other.toml')]) {
      const srv = await T.start({ dir, configFile: name, config: named, env: { CONFIG_FILE: name } });
      const c = await L.ask(await conn(srv, L.V4_WS, `CONFIG_FILE=${name}`), 'create', {});
      assert.equal(c.event, 'created', JSON.stringify(c));
      assert.deepEqual([c.payload.workspace.name, c.payload.attendee.name], ['From CONFIG_FILE', 'Named'], `CONFIG_FILE=${name}`);
    }
  });
});
