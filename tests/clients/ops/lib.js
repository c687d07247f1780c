'use strict';
// Helpers for the operational end-to-end tests (issue #4): spawn the real
// binary with extra config keys, on a chosen directory and secrets (so a
// restart on the same storage file can verify old tokens), kill it with
// SIGKILL/SIGTERM, connect socket.io clients with reconnection disabled, and
// read /health and /metrics. Every wait is bounded.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const assert = require('node:assert/strict');
const h = require('../harness.js');

const READY_TIMEOUT = 15000;

// The same base config as the protocol suites (tests/CONTRACT.md).
const BASE_CONFIG = h.CONFIG;

function toml(config) {
  return Object.entries(config).map(([k, v]) => {
    if (typeof v === 'string') return `${k} = ${JSON.stringify(v)}`;
    return `${k} = ${v}`;
  }).join('\n') + '\n';
}

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'wrw-ops-'));
}

function newSecrets() {
  return {
    MAGICK_TOKEN: crypto.randomBytes(32).toString('hex'),
    SALT_STRING: crypto.randomBytes(16).toString('hex'),
  };
}

const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch (_) { /* gone */ }
  }
});

// Spawns the binary in `dir` with config.js.toml = `base` (BASE_CONFIG unless
// given) + `config`. Returns a handle at once; `ready` resolves when it
// listens, `exit` when it exits.
function spawnServer({ dir = tempDir(), config = {}, secrets = newSecrets(), rustLog = 'warn', base = BASE_CONFIG } = {}) {
  fs.writeFileSync(path.join(dir, 'config.js.toml'), toml({ ...base, ...config }));
  // WRW_OPS_RUST_LOG overrides the log filter (debugging aid; tests that read logs pass rustLog).
  const env = { ...process.env, PORT: '0', DEVELOPMENT: 'true', ...secrets, RUST_LOG: rustLog === 'warn' && process.env.WRW_OPS_RUST_LOG ? process.env.WRW_OPS_RUST_LOG : rustLog };
  delete env.CONFIG_FILE;
  const child = spawn(h.serverBinary(), [], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const srv = {
    child, dir, secrets, config,
    url: null, port: null, metricsUrl: null, expectingExit: false,
    exited: false, code: null, signal: null,
    stdout: () => stdout,
    stderr: () => stderr,
  };
  srv.exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      srv.exited = true; srv.code = code; srv.signal = signal;
      live.delete(child);
      if (!srv.expectingExit) {
        // Not stopped by the test: say so (e.g. another process signalled it).
        process.stderr.write(`\n[ops] server pid ${child.pid} (${dir}) exited unexpectedly: code ${code}, signal ${signal}; stderr tail:\n${stderr.slice(-1500)}\n`);
      }
      resolve({ code, signal });
    });
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  // WRW_OPS_SERVER_LOG=<file prefix>: keep each server's stderr there (debugging aid).
  const logFile = process.env.WRW_OPS_SERVER_LOG ? `${process.env.WRW_OPS_SERVER_LOG}.${process.pid}.${child.pid}.log` : null;
  child.stderr.on('data', (d) => { stderr += d; if (logFile) fs.appendFileSync(logFile, d); });
  let onOut = () => {};
  child.stdout.on('data', (d) => { stdout += d; onOut(); });
  srv.ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `server not listening within ${READY_TIMEOUT} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`)), READY_TIMEOUT);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    srv.exit.then(({ code, signal }) => {
      clearTimeout(timer);
      if (!srv.url) reject(new Error(`server exited before listening (code ${code}, signal ${signal})\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
    onOut = () => {
      const m = /listening on (https?):\/\/([0-9.]+):(\d+)/.exec(stdout);
      if (m && !srv.url) {
        srv.url = `${m[1]}://${m[2]}:${m[3]}`;
        srv.port = Number(m[3]);
      }
      const mm = /metrics on (http:\/\/[0-9.]+:\d+)\/metrics/.exec(stdout);
      if (mm) srv.metricsUrl = mm[1];
      const wantMetrics = config.metrics_address && config.metrics_address !== 'off';
      if (srv.url && (!wantMetrics || srv.metricsUrl)) {
        clearTimeout(timer);
        resolve(srv);
      }
    };
  });
  srv.ready.catch(() => {});
  return srv;
}

async function startServer(opts) {
  const srv = spawnServer(opts);
  await srv.ready;
  return srv;
}

async function waitExit(srv, timeoutMs, what = 'exit') {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`server did not ${what} within ${timeoutMs} ms; stderr:\n${srv.stderr().slice(-3000)}`)), timeoutMs);
  });
  try {
    return await Promise.race([srv.exit, timeout]);
  } finally {
    clearTimeout(t);
  }
}

async function kill9(srv) {
  if (srv.exited) return;
  srv.expectingExit = true;
  srv.child.kill('SIGKILL');
  await waitExit(srv, 5000, 'die on SIGKILL');
}

// A graceful stop: SIGTERM, then it must exit 0 by itself within `timeoutMs`.
async function stop(srv, timeoutMs = 10000) {
  if (srv.exited) return;
  srv.expectingExit = true;
  srv.child.kill('SIGTERM');
  const { code, signal } = await waitExit(srv, timeoutMs, 'exit after SIGTERM');
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `exit after SIGTERM; stderr:\n${srv.stderr().slice(-3000)}`);
}

// Test cleanup: SIGKILL (state must not matter), optional dir removal.
async function destroy(srv, { removeDir = true } = {}) {
  if (!srv) return;
  if (!srv.exited) {
    srv.expectingExit = true;
    try { srv.child.kill('SIGKILL'); } catch (_) { /* gone */ }
    await waitExit(srv, 5000, 'die on SIGKILL').catch(() => {});
  }
  if (removeDir) fs.rmSync(srv.dir, { recursive: true, force: true });
}

const V4_WS = { client: '4', transport: 'websocket' };
const V4_POLL = { client: '4', transport: 'polling' };
const V2_WS = { client: '2.5.0', transport: 'websocket' };
const V2_POLL = { client: '2.0.4', transport: 'polling' };

function loadIo(client) {
  const mod = require(`sio-${client}`);
  return typeof mod === 'function' ? mod : (mod.io || mod.default);
}

// A client with reconnection disabled (a reload is a new socket), recording every event.
function connect(url, variant = V4_WS, label = 'client', timeoutMs = 10000) {
  const io = loadIo(variant.client);
  const opts = { forceNew: true, reconnection: false, timeout: 5000 };
  if (variant.transport === 'polling') {
    opts.transports = ['polling'];
    opts.upgrade = false;
  } else {
    opts.transports = ['websocket'];
  }
  const socket = io(url, opts);
  socket.__variant = variant;
  h.record(socket, variant, label);
  socket.__disconnected = new Promise((resolve) => socket.on('disconnect', (reason) => {
    socket.__disconnectReason = `${reason} at ${new Date().toISOString()}`;
    resolve(reason);
  }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`${label}: no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); resolve(socket); });
    socket.on('connect_error', (e) => {
      clearTimeout(timer);
      socket.close();
      reject(new Error(`${label}: connect_error ${e && e.message}`));
    });
  });
}

// Vanishes without `leave` and without a Socket.IO disconnect packet:
// closes the Engine.IO connection under the socket.
function vanish(socket) {
  socket.io.engine.close();
}

function close(socket) {
  try { socket.close(); } catch (_) { /* ignore */ }
}

const REPLIES = ['created', 'attendance-granted', 're-attendance-granted', 'attendees', 'alert', 'full', 'destroyed', 'iceservers'];

// The first unconsumed event named in `events` recorded at or after `since`
// (other events stay unconsumed for later waits).
async function nextOf(socket, events, { since = 0, timeout = 5000, after = '' } = {}) {
  const rec = socket.__rec;
  const deadline = Date.now() + timeout;
  let from = since;
  for (;;) {
    const found = rec.entries.find((e) => !e.consumed && e.seq >= since && events.includes(e.event));
    if (found) {
      found.consumed = true;
      return { event: found.event, payload: found.payload };
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new Error(`${rec.label}: timed out after ${timeout} ms waiting for one of ${events.join(',')}${after}; connected=${socket.connected}${socket.__disconnectReason ? ` (disconnect: ${socket.__disconnectReason})` : ''}; got ${JSON.stringify(rec.entries.filter((e) => e.seq >= since).map((e) => [e.event, e.payload])).slice(0, 1500)}`);
    }
    from = rec.seq;
    const e = await h.nextEntry(socket, null, { since: from, timeout: left }).catch(() => null);
    if (e && events.includes(e.event)) return { event: e.event, payload: e.payload };
    if (e) e.consumed = false;
  }
}

// Emits `event` and resolves with the first reply-like event after it.
async function request(socket, event, payload, { timeout = 5000, replies = REPLIES } = {}) {
  const since = socket.__rec.seq;
  socket.emit(event, payload);
  const after = ` after '${event}' ${JSON.stringify(payload).slice(0, 200)} at ${new Date().toISOString()}`;
  return nextOf(socket, replies, { since, timeout, after });
}

async function create(socket, { name = 'ws', pin = '', attendee = 'owner', nonce } = {}) {
  const r = await request(socket, 'create', {
    workspace: { name, pin, avatar: `${name}.png` },
    attendee: { name: attendee, avatar: `${attendee}.png` },
    nonce,
  });
  assert.equal(r.event, 'created', `create answered ${JSON.stringify(r)}`);
  return r.payload;
}

async function attend(socket, token, pin = '', name = 'guest') {
  return request(socket, 'attend', { workspace: { token, pin }, attendee: { name, avatar: `${name}.png` } });
}

async function attendOk(socket, token, pin = '', name = 'guest') {
  const r = await attend(socket, token, pin, name);
  assert.equal(r.event, 'attendance-granted', `attend answered ${JSON.stringify(r)}`);
  return r.payload;
}

// `session` is what the library stores: {workspace, attendee, accessToken}.
function reAttendPayload(session) {
  return { workspace: session.workspace, attendee: session.attendee, accessToken: session.accessToken };
}

async function reAttend(socket, session) {
  return request(socket, 're-attend', reAttendPayload(session));
}

function get(url, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

async function health(srv) {
  const r = await get(`${srv.url}/health`);
  assert.equal(r.status, 200, `/health: ${r.status} ${r.body}`);
  assert.match(String(r.headers['content-type']), /application\/json/);
  return JSON.parse(r.body);
}

// Prometheus text format → [{name, labels:{}, value}]
function parseProm(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;
      let l;
      while ((l = re.exec(m[3])) !== null) labels[l[1]] = l[2];
    }
    const v = m[4];
    samples.push({ name: m[1], labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return samples;
}

// The value of the sample `name` whose labels include `labels`; `dflt` if absent.
function metric(samples, name, labels = {}, dflt = undefined) {
  const found = samples.filter((s) => s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length === 0) return dflt;
  assert.equal(found.length, 1, `several samples match ${name}${JSON.stringify(labels)}: ${JSON.stringify(found)}`);
  return found[0].value;
}

async function scrape(baseUrl) {
  const r = await get(`${baseUrl}/metrics`);
  assert.equal(r.status, 200, `/metrics: ${r.status} ${r.body.slice(0, 300)}`);
  return parseProm(r.body);
}

// Polls `fn` (async, returns truthy when done) every `every` ms until `timeout`.
async function poll(fn, { timeout = 10000, every = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// A bounded timer: only for checks about the passage of time.
function delay(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// The bytes and mtime of each file (null if absent), to check later that a
// refused start left them alone.
function snapshotFiles(files) {
  return files.map((f) => (fs.existsSync(f) ? { f, bytes: fs.readFileSync(f), mtimeMs: fs.statSync(f).mtimeMs } : { f, bytes: null }));
}

// Starts the binary and expects it to refuse: it exits non-zero by itself
// without listening, its stderr names `mentions`, and every file in
// `unchanged` is byte-for-byte (and mtime) as before; every file in `absent`
// still does not exist. `T` is a tracked() (the server is cleaned up with it).
async function expectRefusedStart(T, { dir, config, secrets, base, mentions, unchanged = [], absent = [] }) {
  const before = snapshotFiles(unchanged);
  const srv = spawnServer({ dir, config, secrets, base, rustLog: 'info' });
  srv.expectingExit = true;
  T.servers.push(srv);
  const { code, signal } = await waitExit(srv, 10000, 'refuse to start');
  assert.equal(signal, null, 'it exits by itself');
  assert.notEqual(code, 0, 'non-zero exit');
  assert.doesNotMatch(srv.stdout(), /listening on/, 'it must not have started listening');
  assert.ok(srv.stderr().includes(mentions), `stderr names ${mentions}:\n${srv.stderr()}`);
  for (const b of before) {
    if (b.bytes === null) {
      assert.ok(!fs.existsSync(b.f), `${b.f} was not created`);
      continue;
    }
    assert.ok(fs.readFileSync(b.f).equals(b.bytes), `${b.f} is byte-for-byte unchanged`);
    assert.equal(fs.statSync(b.f).mtimeMs, b.mtimeMs, `${b.f} was not rewritten`);
  }
  for (const f of absent) assert.ok(!fs.existsSync(f), `${f} must not exist`);
  return srv;
}

// Per-test bookkeeping the ops suites share: servers and sockets a test
// started are closed after it, and `dirs` it registered are removed.
function tracked(afterEach, { removeDir = true } = {}) {
  const servers = [];
  const sockets = [];
  const dirs = [];
  const closeAll = () => {
    for (const s of sockets.splice(0)) close(s);
  };
  afterEach(async () => {
    closeAll();
    for (const srv of servers.splice(0)) await destroy(srv, { removeDir });
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  return {
    servers,
    dirs,
    closeAll,
    async start(opts) {
      const srv = spawnServer(opts);
      servers.push(srv);
      await srv.ready;
      return srv;
    },
    async conn(srv, variant, label) {
      const s = await connect(srv.url, variant, label);
      sockets.push(s);
      return s;
    },
  };
}

module.exports = {
  tracked,
  BASE_CONFIG, toml, tempDir, newSecrets, spawnServer, startServer, waitExit, kill9, stop, destroy, expectRefusedStart,
  V4_WS, V4_POLL, V2_WS, V2_POLL, connect, vanish, close, nextOf, request, create, attend, attendOk,
  reAttendPayload, reAttend, get, health, parseProm, metric, scrape, poll, delay,
  waitFor: h.waitFor, next: h.next, nextEntry: h.nextEntry, mark: h.mark, quiet: h.quiet,
};
