'use strict';
// Issue #4, durability of the file store with the real binary: kill -9 and
// restart on the same json_storage_file (same MAGICK_TOKEN/SALT_STRING), a
// kill -9 in the middle of a burst of creates, and a corrupt file.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const L = require('./lib.js');

const WRONG_PIN = 'This workspace is protected with a PIN. Wrong PIN provided.';

const T = L.tracked(afterEach, { removeDir: false });
const { servers, dirs, start, conn, closeAll } = T;


function readFileText(file) {
  try { return fs.readFileSync(file, 'utf8'); } catch (e) { if (e.code === 'ENOENT') return ''; throw e; }
}

function session(reply) {
  return { workspace: reply.workspace, attendee: reply.attendee, accessToken: reply.accessToken };
}

describe('file store: restart durability', () => {
  it('after kill -9, invite tokens still join with their PIN, access tokens re-attend and attendee lists are intact', async () => {
    const dir = L.tempDir();
    dirs.push(dir);
    const file = path.join(dir, 'store.json');
    const secrets = L.newSecrets();
    const config = { json_storage_file: file, flush_window_ms: 100 };
    let srv = await start({ dir, config, secrets });

    const owner1 = await conn(srv, L.V4_WS, 'owner1');
    const w1 = await L.create(owner1, { name: 'pinned', pin: '4321', attendee: 'alice' });
    const guest1 = await conn(srv, L.V2_POLL, 'guest1');
    const g1 = await L.attendOk(guest1, w1.workspace.token, '4321', 'bob');
    const guest2 = await conn(srv, L.V2_WS, 'guest2');
    const g2 = await L.attendOk(guest2, w1.workspace.token, 4321, 'carol');
    const owner2 = await conn(srv, L.V4_POLL, 'owner2');
    const w2 = await L.create(owner2, { name: 'open', attendee: 'dave' });
    const attendees1 = g2.attendees;
    assert.deepEqual(Object.keys(attendees1).sort(), [w1.attendee.id, g1.attendee.id, g2.attendee.id].sort());

    // Wait (bounded) until the grouped write has put everything on disk, then kill -9.
    const ids = [w1.workspace.id, w2.workspace.id, g1.attendee.id, g2.attendee.id];
    await L.poll(() => { const t = readFileText(file); return ids.every((id) => t.includes(id)); },
      { timeout: 5000, what: `${file} to name every workspace and attendee` });
    await L.kill9(srv);
    closeAll();
    JSON.parse(fs.readFileSync(file, 'utf8'));

    srv = await start({ dir, config, secrets });
    const h = await L.health(srv);
    assert.equal(h.workspaces, 2, 'both workspaces are loaded');

    // The invite token still joins, with its PIN only.
    const newcomer = await conn(srv, L.V4_WS, 'newcomer');
    const wrong = await L.attend(newcomer, w1.workspace.token, '0000', 'eve');
    assert.deepEqual(wrong, { event: 'alert', payload: WRONG_PIN });
    const n = await L.attendOk(newcomer, w1.workspace.token, '4321', 'eve');
    assert.equal(n.workspace.id, w1.workspace.id);
    assert.equal(n.workspace.owner, w1.attendee.id);
    assert.equal(n.workspace.created, w1.workspace.created);
    assert.deepEqual(n.attendees, { ...attendees1, [n.attendee.id]: n.attendee },
      'the attendee list after the restart is the one before, plus the newcomer');
    const n2 = await conn(srv, L.V2_POLL, 'newcomer2');
    await L.attendOk(n2, w2.workspace.token, '', 'frank');

    // Stored access tokens re-attend (owner and guests), with the same ids.
    for (const [label, variant, s] of [['owner1', L.V2_WS, session(w1)], ['guest1', L.V4_POLL, session(g1)], ['guest2', L.V2_POLL, session(g2)]]) {
      const c = await conn(srv, variant, `${label}-after-restart`);
      const r = await L.reAttend(c, s);
      assert.equal(r.event, 're-attendance-granted', `${label}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.payload.attendee, s.attendee);
      const { id, name, avatar, owner, created, token } = r.payload.workspace;
      assert.deepEqual({ id, name, avatar, owner, created, token }, w1.workspace);
      assert.deepEqual(r.payload.attendees, { ...attendees1, [n.attendee.id]: n.attendee });
      assert.equal(r.payload.accessToken, s.accessToken);
    }
    const o2 = await conn(srv, L.V4_WS, 'owner2-after-restart');
    const r2 = await L.reAttend(o2, session(w2));
    assert.equal(r2.event, 're-attendance-granted', JSON.stringify(r2));
    assert.deepEqual(Object.keys(r2.payload.attendees).length, 2);
    assert.deepEqual(r2.payload.attendees[w2.attendee.id], w2.attendee);
  });
});

describe('file store: lapsed and kicked attendees across a restart', () => {
  it('an attendee lapsed by the grace may still re-attend after kill -9 and restart; a kicked one may not', async () => {
    const dir = L.tempDir();
    dirs.push(dir);
    const file = path.join(dir, 'store.json');
    const secrets = L.newSecrets();
    // flush_window_ms = 0: every change is on disk before its reply/announcement.
    const config = { json_storage_file: file, flush_window_ms: 0, presence_grace_secs: 1, max_capacity_of_workspace: 4 };
    let srv = await start({ dir, config, secrets });
    const owner = await conn(srv, L.V4_WS, 'owner');
    const w = await L.create(owner, { name: 'mixed' });
    const sleeper = await conn(srv, L.V2_POLL, 'sleeper');
    const s = await L.attendOk(sleeper, w.workspace.token, '', 'sleeper');
    await L.waitFor(owner, 'attend');
    const kicked = await conn(srv, L.V2_WS, 'kicked');
    const k = await L.attendOk(kicked, w.workspace.token, '', 'kicked');
    await L.waitFor(owner, 'attend');
    owner.emit('kick', { workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, kickedAttendee: { id: k.attendee.id, name: 'kicked' }, accessToken: w.accessToken });
    assert.deepEqual(await L.waitFor(owner, 'kicked'), { id: k.attendee.id, name: 'kicked' });
    L.vanish(sleeper);
    assert.deepEqual(await L.waitFor(owner, 'leave', { timeout: 5000 }), s.attendee);
    // The owner's `attendees` round trip orders after the lapse on the server.
    const list = await L.request(owner, 'attendees', { workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, accessToken: w.accessToken }, { replies: ['attendees', 'alert'] });
    assert.deepEqual(list.payload, { attendees: { [w.attendee.id]: w.attendee } });
    await L.kill9(srv);
    closeAll();

    srv = await start({ dir, config, secrets });
    const c1 = await conn(srv, L.V4_POLL, 'kicked-again');
    assert.deepEqual(await L.reAttend(c1, session(k)), { event: 'alert', payload: 'Invalid access token. Access is not allowed.' });
    const c2 = await conn(srv, L.V2_WS, 'sleeper-wakes');
    const r = await L.reAttend(c2, session(s));
    assert.equal(r.event, 're-attendance-granted', JSON.stringify(r));
    assert.deepEqual(r.payload.attendee, s.attendee);
    assert.deepEqual(r.payload.attendees, { [w.attendee.id]: w.attendee, [s.attendee.id]: s.attendee });
  });
});

// Several sockets create concurrently, each sending one create every
// `everyMs` (a paced load, so that the burst spans many flush windows) with at
// most `inflight` outstanding; the server is killed with SIGKILL once
// `killAfter` replies arrived. Returns the created replies with their arrival
// time and the kill time.
async function burst(srv, { total = 500, socketsN = 8, everyMs = 40, inflight = 4, killAfter = 300 }) {
  const clients = [];
  for (let i = 0; i < socketsN; i++) {
    clients.push(await conn(srv, i % 2 ? L.V4_WS : L.V2_WS, `creator${i}`));
  }
  const created = [];
  let sent = 0;
  let killedAt = null;
  let resolveKill;
  const killed = new Promise((r) => { resolveKill = r; });
  const timers = [];
  const started = performance.now();
  for (const c of clients) {
    let outstanding = 0;
    const send = () => {
      if (sent >= total || killedAt !== null || outstanding >= inflight) return;
      sent++;
      outstanding++;
      c.emit('create', { workspace: { name: `b${sent}`, pin: String(sent) }, attendee: { name: `o${sent}` }, nonce: sent });
    };
    c.on('created', (p) => {
      outstanding--;
      if (killedAt !== null) return;
      created.push({ at: performance.now(), pin: String(p.nonce), reply: p });
      if (created.length === killAfter) {
        killedAt = performance.now();
        srv.expectingExit = true;
        srv.child.kill('SIGKILL');
        resolveKill();
      }
    });
    send();
    timers.push(setInterval(send, everyMs));
  }
  let t;
  try {
    await Promise.race([killed, new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`only ${created.length} of ${killAfter} created replies within 30 s`)), 30000);
    })]);
  } finally {
    clearTimeout(t);
    for (const i of timers) clearInterval(i);
  }
  await L.waitExit(srv, 5000, 'die on SIGKILL');
  assert.ok(sent < total, `the burst was still going when the server was killed (${sent} of ${total} sent)`);
  closeAll();
  return { created, killedAt, sent, spanMs: killedAt - started };
}

// Restarts on the file and checks that each of `must` is there: its owner
// re-attends with the stored access token and its invite token + PIN still
// pass the PIN check. Spread over a few sockets.
async function checkSurvivors(srv, must, label) {
  const checkers = [];
  for (let i = 0; i < 4; i++) checkers.push(await conn(srv, L.V4_WS, `checker${i}`));
  const missing = [];
  await Promise.all(checkers.map(async (c, i) => {
    for (let k = i; k < must.length; k += checkers.length) {
      const { reply, pin } = must[k];
      const r = await L.reAttend(c, session(reply));
      if (r.event !== 're-attendance-granted') missing.push({ id: reply.workspace.id, reAttend: r });
      else assert.equal(r.payload.workspace.token, reply.workspace.token);
    }
  }));
  assert.deepEqual(missing, [], `${label}: ${missing.length} of ${must.length} acknowledged workspaces are missing after the restart`);
  // Invite tokens: a sample, joined with the PIN (keeps the workspaces below capacity).
  const joiner = await conn(srv, L.V2_POLL, 'joiner');
  for (const { reply, pin } of must.filter((_, i) => i % 25 === 0)) {
    const g = await L.attendOk(joiner, reply.workspace.token, pin, 'late');
    assert.equal(g.workspace.id, reply.workspace.id);
    assert.ok(g.attendees[reply.attendee.id], 'the owner is still in the list');
  }
}

describe('file store: kill -9 in the middle of a burst of creates', () => {
  for (const windowMs of [100, 0]) {
    // With a window, a reply may precede its write by the window plus a write
    // or two; 300 ms covers flush_window_ms = 100. With 0, the reply follows the write.
    const margin = windowMs === 0 ? 0 : 300;
    it(`flush_window_ms = ${windowMs}: the file is valid JSON, the server starts on it, and every workspace acknowledged more than ${margin} ms before the kill survives`, async (t) => {
      const dir = L.tempDir();
      dirs.push(dir);
      const file = path.join(dir, 'store.json');
      const secrets = L.newSecrets();
      const config = { json_storage_file: file, flush_window_ms: windowMs };
      let srv = await start({ dir, config, secrets });
      const { created, killedAt, sent, spanMs } = await burst(srv, {});
      assert.ok(spanMs > 2 * (windowMs + margin), `the burst spans several flush windows before the kill (${spanMs} ms)`);

      const text = fs.readFileSync(file, 'utf8');
      assert.doesNotThrow(() => JSON.parse(text), `${file} is not valid JSON after kill -9`);
      const must = created.filter((c) => c.at <= killedAt - margin);
      assert.ok(must.length >= (windowMs === 0 ? 200 : 50), `enough workspaces to check (${must.length})`);

      srv = await start({ dir, config, secrets });
      const h = await L.health(srv);
      t.diagnostic(`sent ${sent}, acknowledged ${created.length}, must survive ${must.length}, loaded ${h.workspaces}, burst ${Math.round(spanMs)} ms`);
      assert.ok(h.workspaces >= must.length && h.workspaces <= sent,
        `workspaces after restart: ${h.workspaces}, acknowledged in time: ${must.length}, sent: ${sent}`);
      await checkSurvivors(srv, must, `flush_window_ms = ${windowMs}`);
    });
  }
});

describe('file store: a corrupt storage file', () => {
  const cases = [
    ['truncated JSON', Buffer.from('{"format":"webrtc-workspaces-server/1","workspaces":[{"id":"_abcdefghij","na')],
    ['not JSON at all', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0a, 0x7b])],
    ['JSON of another shape', Buffer.from('{"workspaces": 3}\n')],
  ];
  for (const [name, bytes] of cases) {
    it(`${name}: the start stops with an error naming the file, and the file is left unchanged`, async () => {
      const dir = L.tempDir();
      dirs.push(dir);
      const file = path.join(dir, 'workspaces-store.json');
      fs.writeFileSync(file, bytes);
      const before = fs.statSync(file);
      const srv = L.spawnServer({ dir, config: { json_storage_file: file }, rustLog: 'info' });
      srv.expectingExit = true;
      servers.push(srv);
      const { code, signal } = await L.waitExit(srv, 10000, 'refuse to start');
      assert.equal(signal, null);
      assert.notEqual(code, 0, 'non-zero exit');
      assert.doesNotMatch(srv.stdout(), /listening on/, 'it must not have started listening');
      assert.ok(srv.stderr().includes(file), `stderr names ${file}:\n${srv.stderr()}`);
      assert.ok(Buffer.from(fs.readFileSync(file)).equals(bytes), 'the file is byte-for-byte unchanged');
      assert.equal(fs.statSync(file).mtimeMs, before.mtimeMs, 'the file was not rewritten');
    });
  }
});
