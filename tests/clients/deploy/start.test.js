'use strict';
// Starting the server the ways operators do (issue #3): from environment
// variables only, as in a container (no .env, no config.js.toml), and through
// the npm wrapper (`npm start` = node scripts/npm-start.js), which reads .env
// and config.js.toml from its cwd and passes SIGTERM on.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const { spawn } = require('node:child_process');
const d = require('./lib.js');

test('environment only (no .env, no config.js.toml): starts in production mode and serves GET /', { timeout: 30000 }, async (t) => {
  const dir = d.tempDir();
  assert.deepEqual(fs.readdirSync(dir), []);
  let srv = null;
  t.after(async () => { if (srv) await srv.stop(); d.removeDir(dir); });
  srv = await d.startServer({
    dir,
    config: null,
    env: { PORT: '0', DEVELOPMENT: 'false', ...d.secrets() },
  });
  assert.match(srv.stdout(), /production mode/);
  const page = await d.get(`${srv.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers['content-type'], /^text\/html/);
  assert.match(page.body, /<html/i);
  // The container HEALTHCHECK probes /health.
  assert.equal((await d.get(`${srv.url}/health`)).status, 200);
  // A socket.io client works too.
  const s = await d.connect(srv.url, { client: '2.0.4', transport: 'polling' });
  t.after(() => d.close(s));
  assert.ok(Array.isArray(await d.request(s, 'iceservers', {}, 'iceservers')));
  // `docker stop` sends SIGTERM: connected clients are let go and the exit is clean and prompt.
  const t0 = Date.now();
  srv.child.kill('SIGTERM');
  const { code, signal } = await d.withTimeout(srv.exit, 12000, 'exit after SIGTERM');
  const took = Date.now() - t0;
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `after SIGTERM (${took} ms); stderr:\n${srv.stderr().slice(-2000)}`);
  assert.ok(took < 3000, `exit took ${took} ms`);
  await d.pollUntil(() => s.__deploy.disconnects.length > 0, { ms: 5000, what: 'the client sees the disconnect' });
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing written into the working directory');
});

// A raw Engine.IO v4 polling request, bounded.
function poll(url, method = 'GET', body = null) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method, agent: false, timeout: 15000,
      headers: body === null ? {} : { 'content-type': 'text/plain;charset=UTF-8' },
    }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (x) => { b += x; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

test('SIGTERM with a polling session whose socket has just disconnected: prompt exit 0 (docker stop)', { timeout: 30000 }, async (t) => {
  // What socket.io-client does on close over polling: Socket.IO DISCONNECT
  // ("41") while a long-poll GET is pending. Seen first as a random 10 s
  // shutdown when SIGTERM followed a client's close; here made deterministic.
  const srv = await d.startServer({ config: null, env: { PORT: '0', DEVELOPMENT: 'false', ...d.secrets() } });
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
  assert.equal((await d.get(`${srv.url}/health`)).status, 200);

  const t0 = Date.now();
  srv.child.kill('SIGTERM');
  const { code, signal } = await d.withTimeout(srv.exit, 15000, 'exit after SIGTERM');
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
    await t.test(name, async () => {
      const dir = d.tempDir();
      const srv = d.spawnServer({ dir, config: null, env: { PORT: '0', DEVELOPMENT: 'false', ...secrets } });
      try {
        const { code, signal } = await d.withTimeout(srv.exit, 10000, 'server without MAGICK_TOKEN to exit');
        assert.equal(signal, null);
        assert.notEqual(code, 0);
        assert.equal(srv.url, null, 'it never listened');
        assert.match(srv.stderr(), /MAGICK_TOKEN/);
      } finally {
        await srv.stop();
        d.removeDir(dir);
      }
    });
  }
});

test('npm start wrapper: reads .env and config.js.toml from its cwd, serves GET /, SIGTERM stops it with exit 0', { timeout: 30000 }, async (t) => {
  const dir = d.tempDir();
  fs.writeFileSync(path.join(dir, '.env'), 'PORT=0\nDEVELOPMENT=true\n');
  const srv = d.spawnServer({
    dir,
    config: { host: '127.0.0.1', untitled_workspace: 'From the wrapper cwd' },
    env: {},
    cmd: process.execPath,
    args: [path.join(d.REPO, 'scripts', 'npm-start.js')],
  });
  let serverPid = null; // the binary the wrapper started (our grandchild)
  t.after(async () => {
    await srv.stop();
    if (serverPid !== null) {
      try { process.kill(serverPid, 0); process.kill(serverPid, 'SIGKILL'); } catch (_) { /* gone */ }
    }
    d.removeDir(dir);
  });
  await srv.waitReady();
  try {
    const kids = fs.readFileSync(`/proc/${srv.child.pid}/task/${srv.child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (kids.length === 1) serverPid = Number(kids[0]);
  } catch (_) { /* no /proc: rely on the wrapper */ }
  // host from config.js.toml, a free port from .env's PORT=0.
  assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(srv.port, 9090);
  assert.match(srv.stdout(), /development mode/);
  const page = await d.get(`${srv.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.body, /<html/i);
  // config.js.toml of the cwd is the one in use.
  const s = await d.connect(srv.url, { client: '4', transport: 'websocket' });
  try {
    const created = await d.request(s, 'create', { workspace: {}, attendee: {} }, 'created');
    assert.equal(created.workspace.name, 'From the wrapper cwd');
  } finally {
    d.close(s);
  }

  srv.child.kill('SIGTERM');
  const { code, signal } = await d.withTimeout(srv.exit, 10000, 'npm-start.js to exit after SIGTERM');
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `stderr:\n${srv.stderr()}`);
  // The server behind the wrapper is gone too (nothing listens on its port).
  assert.equal(await d.portClosed(srv.port), true, 'the server process must stop with the wrapper');
});

test('npm scripts: start and postinstall run the wrappers; WRW_SKIP_BUILD=1 skips the build', { timeout: 30000 }, async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(d.REPO, 'package.json'), 'utf8'));
  assert.match(pkg.scripts.start, /^(exec )?node scripts\/npm-start\.js$/);
  assert.equal(pkg.scripts.postinstall, 'node scripts/npm-build.js');
  // The install itself (cargo build) is covered by CI; here only its skip switch,
  // with an empty PATH so that no cargo can run whatever the script does.
  const emptyBin = d.tempDir('wrw-nobin-');
  t.after(() => d.removeDir(emptyBin));
  const child = spawn(process.execPath, [path.join(d.REPO, 'scripts', 'npm-build.js')], {
    cwd: emptyBin,
    env: { ...d.cleanEnv(), PATH: emptyBin, WRW_SKIP_BUILD: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => { out += b; });
  child.stderr.on('data', (b) => { out += b; });
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let result;
  try {
    result = await d.withTimeout(exit, 10000, 'npm-build.js with WRW_SKIP_BUILD=1');
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  assert.deepEqual(result, { code: 0, signal: null }, out);
  assert.match(out, /WRW_SKIP_BUILD/);
});
