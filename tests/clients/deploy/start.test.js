'use strict';
// Starting the server the ways operators do (issue #3): from environment
// variables only, as in a container (no .env, no config.js.toml), and through
// the npm wrapper (`npm start` = node scripts/npm-start.js), which reads .env
// and config.js.toml from its cwd and passes SIGTERM on.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const h = require('../harness.js');
const d = require('./lib.js');

// An empty working directory, removed after the test.
function emptyDir(t, prefix = 'wrw-deploy-') {
  const dir = h.tempDir(prefix);
  t.after(() => h.removeDir(dir));
  return dir;
}

test('environment only (no .env, no config.js.toml): starts in production mode and serves GET /', { timeout: 30000 }, async (t) => {
  const dir = emptyDir(t);
  assert.deepEqual(fs.readdirSync(dir), []);
  // Production mode: the same environment without MAGICK_TOKEN is refused (exit code, not listening).
  await h.expectRefusedStart({ dir: emptyDir(t), config: null, env: { DEVELOPMENT: 'false' }, secrets: { SALT_STRING: 'a-real-salt-0123456789' }, mentions: 'MAGICK_TOKEN' });
  let srv = null;
  t.after(async () => { if (srv) await srv.stop(); });
  srv = await h.startServer({ dir, config: null, env: { DEVELOPMENT: 'false' } });
  const page = await h.get(`${srv.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.match(page.body, /<html/i);
  // The container HEALTHCHECK probes /health.
  assert.equal((await h.get(`${srv.url}/health`)).status, 200);
  // A socket.io client works too.
  const s = await h.connect(srv.url, { client: '2.0.4', transport: 'polling' });
  t.after(() => h.close(s));
  assert.ok(Array.isArray(await h.reply(s, 'iceservers', {}, 'iceservers')));
  // `docker stop` sends SIGTERM: connected clients are let go and the exit is clean and prompt.
  const t0 = Date.now();
  srv.expectingExit = true;
  srv.child.kill('SIGTERM');
  const { code, signal } = await h.withTimeout(srv.exit, 12000, 'exit after SIGTERM');
  const took = Date.now() - t0;
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `after SIGTERM (${took} ms); stderr:\n${srv.stderr().slice(-2000)}`);
  assert.ok(took < 3000, `exit took ${took} ms`);
  await h.poll(() => s.__disconnects.length > 0, { timeout: 5000, what: 'the client sees the disconnect' });
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing written into the working directory');
});

// A raw Engine.IO v4 polling request, bounded.
function poll(url, method = 'GET', body = null) {
  const headers = body === null ? {} : { 'content-type': 'text/plain;charset=UTF-8' };
  return h.request(url, { method, body, headers, timeout: 15000 });
}

test('SIGTERM with a polling session whose socket has just disconnected: prompt exit 0 (docker stop)', { timeout: 30000 }, async (t) => {
  // What socket.io-client does on close over polling: Socket.IO DISCONNECT
  // ("41") while a long-poll GET is pending. Seen first as a random 10 s
  // shutdown when SIGTERM followed a client's close; here made deterministic.
  const srv = await h.startServer({ config: null, env: { DEVELOPMENT: 'false' } });
  t.after(() => srv.stop());
  const base = `${srv.url}/socket.io/?EIO=4&transport=polling`;
  const open = await poll(base);
  assert.equal(open.status, 200);
  const sid = /"sid":"([^"]+)"/.exec(open.body)[1];
  assert.equal((await poll(`${base}&sid=${sid}`, 'POST', '40')).status, 200);
  assert.match((await poll(`${base}&sid=${sid}`)).body, /(^|\x1e)40\{/);
  assert.equal((await poll(`${base}&sid=${sid}`, 'POST', '41')).body, 'ok');
  const pending = poll(`${base}&sid=${sid}`).catch((e) => ({ error: e.message }));
  // The server has the GET once it answers a request sent after it on another connection.
  assert.equal((await h.get(`${srv.url}/health`)).status, 200);

  const t0 = Date.now();
  srv.expectingExit = true;
  srv.child.kill('SIGTERM');
  const { code, signal } = await h.withTimeout(srv.exit, 15000, 'exit after SIGTERM');
  const took = Date.now() - t0;
  const answer = await pending;
  assert.deepEqual({ code, signal, fast: took < 3000 }, { code: 0, signal: null, fast: true },
    `exit ${code}/${signal} after ${took} ms (shutdown_timeout is 10 s); pending poll got ${JSON.stringify(answer)}; stderr:\n${srv.stderr().split('\n').filter((l) => !/^\s+(\d+:|at )/.test(l)).join('\n').slice(-1500)}`);
});

test('environment only, DEVELOPMENT=false without MAGICK_TOKEN (or with the env-sample placeholder): exits non-zero naming MAGICK_TOKEN', { timeout: 30000 }, async (t) => {
  const cases = {
    missing: { SALT_STRING: 'a-real-salt-0123456789' },
    placeholder: { MAGICK_TOKEN: 'change-me-to-a-long-random-string', SALT_STRING: 'a-real-salt-0123456789' },
  };
  for (const [name, secrets] of Object.entries(cases)) {
    await t.test(name, () => h.expectRefusedStart({ config: null, env: { DEVELOPMENT: 'false' }, secrets, mentions: 'MAGICK_TOKEN' }));
  }
});

// Whether something listens on 127.0.0.1:`port` (a refused connect: no).
function listening(port) {
  return new Promise((resolve) => {
    const c = require('node:net').connect(port, '127.0.0.1');
    c.setTimeout(2000);
    c.on('connect', () => { c.destroy(); resolve(true); });
    c.on('timeout', () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

test('an empty directory and no variable of ours: a development server on port 9090 (issue 26)', { timeout: 30000 }, async (t) => {
  if (await listening(9090)) return t.skip('skipped: something already listens on port 9090, the port this start must take');
  const dir = emptyDir(t);
  const srv = h.spawnServer({ dir, config: null, secrets: null, env: { PORT: undefined, DEVELOPMENT: undefined, RUST_LOG: undefined } });
  t.after(() => srv.stop());
  await srv.ready;
  assert.equal(srv.port, 9090);
  assert.match(srv.stdout(), /listening on http:\/\/0\.0\.0\.0:9090 \(development mode, in-memory store\)/);
  assert.match(srv.stderr(), /random secrets/, 'it warns that the secrets are made up for this run');
  assert.equal((await h.get(`${srv.url}/demo`)).status, 200, '/demo is served in development mode');
});

test('npm start wrapper: reads .env and config.js.toml from its cwd, serves GET /, SIGTERM stops it with exit 0', { timeout: 30000 }, async (t) => {
  const dir = emptyDir(t);
  fs.writeFileSync(path.join(dir, '.env'), 'PORT=0\nDEVELOPMENT=true\n');
  // PORT, DEVELOPMENT and no secrets at all: only from .env (development mode
  // starts without secrets; production refuses to, as tested above).
  const srv = h.spawnServer({
    dir,
    base: false,
    config: { host: '127.0.0.1', untitled_workspace: 'From the wrapper cwd' },
    env: { PORT: undefined, DEVELOPMENT: undefined },
    secrets: null,
    cmd: process.execPath,
    args: [path.join(d.REPO, 'scripts', 'npm-start.js')],
  });
  let serverPid = null; // the binary the wrapper started (our grandchild)
  t.after(async () => {
    await srv.stop();
    if (serverPid !== null) {
      try { process.kill(serverPid, 0); process.kill(serverPid, 'SIGKILL'); } catch (_) { /* gone */ }
    }
  });
  await srv.ready;
  try {
    const kids = fs.readFileSync(`/proc/${srv.child.pid}/task/${srv.child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (kids.length === 1) serverPid = Number(kids[0]);
  } catch (_) { /* no /proc: rely on the wrapper */ }
  // host from config.js.toml, a free port from .env's PORT=0.
  assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(srv.port, 9090);
  const page = await h.get(`${srv.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/i);
  // config.js.toml of the cwd is the one in use.
  const s = await h.connect(srv.url, { client: '4', transport: 'websocket' });
  try {
    const created = await h.reply(s, 'create', { workspace: {}, attendee: {} }, 'created');
    assert.equal(created.workspace.name, 'From the wrapper cwd');
  } finally {
    h.close(s);
  }

  srv.expectingExit = true;
  srv.child.kill('SIGTERM');
  const { code, signal } = await h.withTimeout(srv.exit, 10000, 'npm-start.js to exit after SIGTERM');
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `stderr:\n${srv.stderr()}`);
  // The server behind the wrapper is gone too (nothing listens on its port).
  assert.equal(await d.portClosed(srv.port), true, 'the server process must stop with the wrapper');
});

test('npm scripts: start and postinstall run the wrappers; WRW_SKIP_BUILD=1 skips the build', { timeout: 30000 }, async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(d.REPO, 'package.json'), 'utf8'));
  assert.match(pkg.scripts.start, /^(exec )?node scripts\/npm-start\.js$/);
  assert.equal(pkg.scripts.postinstall, 'node scripts/npm-build.js');
  // The install itself (cargo build) is covered by CI; here only its skip switch,
  // with an empty PATH so that no cargo can run whatever the script does: with
  // the switch it exits 0, without it it fails (it would have to build).
  const emptyBin = emptyDir(t, 'wrw-nobin-');
  const build = async (extra) => {
    const child = spawn(process.execPath, [path.join(d.REPO, 'scripts', 'npm-build.js')], {
      cwd: emptyBin,
      env: { ...h.serverEnv(), PATH: emptyBin, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      return { ...(await h.withTimeout(exit, 10000, `npm-build.js with ${JSON.stringify(extra)}`)), out };
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  };
  const skipped = await build({ WRW_SKIP_BUILD: '1' });
  assert.deepEqual({ code: skipped.code, signal: skipped.signal }, { code: 0, signal: null }, skipped.out);
  const built = await build({ WRW_SKIP_BUILD: undefined });
  assert.equal(built.signal, null, built.out);
  assert.notEqual(built.code, 0, `without WRW_SKIP_BUILD (and no cargo on PATH) the build must fail: ${built.out}`);
});
