'use strict';
// Issue #4: SIGTERM drains: connected clients see a disconnect, the process
// exits 0 within a bound, and the file store is flushed even when its flush
// window has not run out yet.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const L = require('../harness.js');

const EXIT_BOUND_MS = 8000;

const { start, conn, dir: newDir } = L.tracked(afterEach);

async function bounded(promise, ms, what) {
  let t;
  try {
    return await Promise.race([promise, new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    })]);
  } finally {
    clearTimeout(t);
  }
}

describe('SIGTERM', () => {
  it('with clients connected: they see a disconnect, the process exits 0, and a workspace created just before is in the file', async () => {
    const dir = newDir('wrw-ops-');
    const file = path.join(dir, 'store.json');
    const secrets = L.newSecrets();
    const config = { json_storage_file: file, flush_window_ms: 5000, shutdown_timeout_secs: 5 };
    let srv = await start({ dir, config, secrets });

    const clients = [
      await conn(srv, L.V4_WS, 'v4ws'),
      await conn(srv, L.V4_POLL, 'v4poll'),
      await conn(srv, L.V2_WS, 'v2ws'),
      await conn(srv, L.V2_POLL, 'v2poll'),
    ];
    const [owner, guest] = clients;
    const w = await L.create(owner, { name: 'last-minute', pin: '55', attendee: 'owner' });
    const g = await L.attendOk(guest, w.workspace.token, '55', 'guest');
    // Precondition: the 5 s window has not run out, so nothing is on disk yet.
    const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    assert.ok(!before.includes(w.workspace.id), 'the workspace is not on disk before SIGTERM');

    const t0 = performance.now();
    srv.expectingExit = true;
    srv.child.kill('SIGTERM');
    const reasons = await bounded(Promise.all(clients.map((c) => c.__disconnected)), EXIT_BOUND_MS, 'every client sees a disconnect');
    assert.equal(reasons.length, 4);
    const { code, signal } = await L.waitExit(srv, EXIT_BOUND_MS, 'exit after SIGTERM');
    const elapsed = performance.now() - t0;
    assert.equal(signal, null, 'it exits by itself');
    assert.equal(code, 0, `exit code 0; stderr:\n${srv.stderr()}`);
    assert.ok(elapsed < EXIT_BOUND_MS, `exited after ${Math.round(elapsed)} ms`);

    const text = fs.readFileSync(file, 'utf8');
    JSON.parse(text);
    assert.ok(text.includes(w.workspace.id), 'the workspace was flushed on shutdown');
    assert.ok(!text.includes('"pin":"55"') && !text.includes('"pin":55'), 'the PIN is not stored in clear');

    srv = await start({ dir, config, secrets });
    const joiner = await conn(srv, L.V2_POLL, 'joiner');
    const j = await L.attendOk(joiner, w.workspace.token, '55', 'joiner');
    assert.deepEqual(Object.keys(j.attendees).sort(), [w.attendee.id, g.attendee.id, j.attendee.id].sort());
    const back = await conn(srv, L.V4_WS, 'owner-back');
    const r = await L.reAttend(back, { workspace: w.workspace, attendee: w.attendee, accessToken: w.accessToken });
    assert.equal(r.event, 're-attendance-granted', JSON.stringify(r));
  });

  it('while draining, /health answers 503 with status "draining" (200 "ok" before)', async (t) => {
    const srv = await start({});
    const ok = await L.get(`${srv.url}/health`);
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).status, 'ok');
    const c = await conn(srv, L.V4_WS, 'c');
    // An HTTP connection accepted before the signal, holding the start of a
    // request: draining lets a started request finish, on a connection that
    // is then closed.
    const raw = net.connect(srv.port, '127.0.0.1');
    t.after(() => raw.destroy());
    await bounded(new Promise((resolve, reject) => { raw.once('connect', resolve); raw.once('error', reject); }), 5000, 'TCP connect');
    let answer = '';
    raw.setEncoding('utf8');
    raw.on('data', (d) => { answer += d; });
    const closed = new Promise((resolve) => raw.once('close', resolve));
    raw.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    // The server has read it once it answers a request sent after it on another connection.
    assert.equal((await L.get(`${srv.url}/health`)).status, 200);
    srv.expectingExit = true;
    srv.child.kill('SIGTERM');
    // Draining has begun once the client is disconnected (sockets are closed after /health turns 503).
    await bounded(c.__disconnected, EXIT_BOUND_MS, 'the client sees a disconnect');
    raw.write('\r\n');
    await bounded(closed, EXIT_BOUND_MS, 'the answer on the held connection');
    assert.notEqual(answer, '', 'the request held open across SIGTERM got no answer at all (the connection was closed)');
    assert.match(answer, /^HTTP\/1\.1 503 /, `answer while draining:\n${answer}`);
    const h = JSON.parse(/\{.*\}/s.exec(answer.split('\r\n\r\n').slice(1).join('\r\n\r\n'))[0]);
    assert.equal(h.status, 'draining');
    assert.equal(typeof h.version, 'string');
    const { code } = await L.waitExit(srv, EXIT_BOUND_MS, 'exit after SIGTERM');
    assert.equal(code, 0);
  });

  it('in-memory store: exits 0 promptly, the client sees a disconnect', async () => {
    const srv = await start({});
    const c = await conn(srv, L.V2_WS, 'c');
    await L.create(c, {});
    const t0 = performance.now();
    srv.expectingExit = true;
    srv.child.kill('SIGTERM');
    await bounded(c.__disconnected, EXIT_BOUND_MS, 'the client sees a disconnect');
    const { code } = await L.waitExit(srv, EXIT_BOUND_MS, 'exit after SIGTERM');
    assert.equal(code, 0);
    assert.ok(performance.now() - t0 < EXIT_BOUND_MS);
  });
});
