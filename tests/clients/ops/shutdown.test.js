'use strict';
// Issue #4: SIGTERM drains: connected clients see a disconnect, the process
// exits 0 within a bound, and the file store is flushed even when its flush
// window has not run out yet.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const L = require('./lib.js');

const EXIT_BOUND_MS = 8000;

const { dirs, start, conn } = L.tracked(afterEach, { removeDir: false });

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
    const dir = L.tempDir();
    dirs.push(dir);
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
