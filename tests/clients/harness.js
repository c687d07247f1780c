'use strict';
// The one test harness every client suite uses (docs/PROTOCOL.md, appendix): it
// spawns the real server binary (one spawner, one TOML writer, one banner
// regex), asks the binary for its event list, connects socket.io clients of a
// given variant, records every event they receive, and offers bounded waits,
// HTTP requests and /metrics parsing. No sleeps where an event can be awaited:
// every wait is an awaited event or a poll, each with a bound.

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');

const DEFAULT_TIMEOUT = 5000;
const READY_TIMEOUT = 15000;

// The base config.js.toml of the contract; `startServer` merges a test's keys over it.
const CONFIG = {
  host: '127.0.0.1',
  untitled_workspace: 'Untitled',
  default_workspace_avatar: 'ws.png',
  anonymous_attendee: 'Anonymous',
  default_attendee_avatar: 'att.png',
  max_capacity_of_workspace: 4,
};

// Characters after the `_` of a generated id, as the base config has it
// (WORKSPACE_ID_LEN, the server's default 10 when the config does not say).
const ID_LEN = CONFIG.WORKSPACE_ID_LEN || 10;
const idRe = (len = ID_LEN) => new RegExp(`^_[A-Za-z0-9]{${len}}$`);
const ID_RE = idRe();
// A well-formed id of `len` characters made of `pattern` repeated (one nobody holds).
const fakeId = (pattern, len = ID_LEN) => `_${pattern.repeat(Math.ceil(len / pattern.length)).slice(0, len)}`;

// The alert texts of docs/PROTOCOL.md § Every alert.
const TEXT = {
  PAYLOAD: 'Invalid request: the payload must be an object.',
  WSID: 'Please provide a valid workspace ID.',
  ATTID: 'Please provide a valid attendee ID.',
  NOACCESS: 'Invalid access token. Access is not allowed.',
  BADTOKEN: 'Please provide a valid workspace token.',
  UNAUTH: 'Unauthorized operation. Abort.',
  NOTMEMBER: 'The attendee is not a member of this workspace.',
  MESSAGE: 'Invalid request: message must be an object.',
  OWNERLEAVE: 'Workspace owner cannot leave. Only shutdown is allowed.',
  OWNERKICK: 'Workspace owner cannot be kicked out of workspace.',
  WSOBJ: 'Invalid request: workspace must be an object.',
  ATTOBJ: 'Invalid request: attendee must be an object.',
  WSTOKEN: 'Please provide a valid workspace access token.',
  PIN: 'This workspace is protected with a PIN. Wrong PIN provided.',
  str: (field) => `Invalid request: ${field} must be a string.`,
  tooLong: (field, max) => `Invalid request: ${field} is too long (at most ${max} characters).`,
  PIN_LOCKED: 'Too many wrong PINs. Please wait a minute before trying again.',
  CREATE_LIMIT: 'Too many workspaces created from your address. Please try again later.',
  LIVE_LIMIT: 'The server has reached its workspace limit. Please try again later.',
  RATE_LIMITED: 'Too many events; slow down.',
  TOO_MANY_CONNECTIONS: 'Too many connections from your address.',
};

const VARIANTS = [];
for (const client of ['2.0.4', '2.5.0', '4']) {
  for (const transport of ['polling', 'websocket']) VARIANTS.push({ client, transport });
}
const V4_WS = { client: '4', transport: 'websocket' };
const V4_POLL = { client: '4', transport: 'polling' };
const V2_WS = { client: '2.5.0', transport: 'websocket' };
const V2_POLL = { client: '2.0.4', transport: 'polling' };

// ---------------------------------------------------------------------------
// Bounded waiting.

function delay(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

// Polls `fn` (async; truthy when done; a throw counts as not yet) every
// `every` ms until it is done or `timeout` passes. Resolves with its value.
async function poll(fn, { timeout = 10000, every = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const shown = last instanceof Error ? last.message
        : JSON.stringify(last, (k, v) => (typeof v === 'bigint' ? v.toString(16) : v));
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${shown}`);
    }
    await delay(every);
  }
}

// ---------------------------------------------------------------------------
// config.js.toml

const tomlKey = (k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));
const isTable = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function tomlValue(v, where) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`toml: ${where} is not a finite number`);
    return String(v);
  }
  if (Array.isArray(v)) return `[${v.map((x, i) => tomlValue(x, `${where}[${i}]`)).join(', ')}]`;
  throw new Error(`toml: ${where} has no TOML form (${typeof v})`);
}

// A config object as TOML: strings, numbers, booleans and arrays as values,
// objects as [tables] (nested ones as [a.b]), after the plain keys. A key
// whose value is undefined or null is left out (so a test can drop a base key).
function toml(config, prefix = []) {
  const plain = [];
  const tables = [];
  for (const [k, v] of Object.entries(config)) {
    if (v === undefined || v === null) continue;
    if (isTable(v)) tables.push([k, v]);
    else plain.push(`${tomlKey(k)} = ${tomlValue(v, [...prefix, k].join('.'))}`);
  }
  const out = [];
  if (plain.length) out.push(plain.join('\n'));
  for (const [k, v] of tables) {
    const name = [...prefix, k];
    const body = toml(v, name).trimEnd();
    out.push(`[${name.map(tomlKey).join('.')}]${body ? `\n${body}` : ''}`);
  }
  return out.length ? `${out.join('\n\n')}\n` : '';
}

// ---------------------------------------------------------------------------
// The server process.

// The banner line the server prints on stdout once it listens (the port is
// learnt from it), and the one naming a separate metrics listener.
const BANNER_RE = /listening on (https?):\/\/([0-9.]+):(\d+)/;
const METRICS_BANNER_RE = /metrics on (http:\/\/[0-9.]+:\d+)\/metrics/;

// Keys of the server's environment the tests always decide themselves, so
// that whatever the developer's shell exports does not leak into a test.
const SERVER_ENV_KEYS = [
  'PORT', 'DEVELOPMENT', 'MAGICK_TOKEN', 'SALT_STRING', 'ENABLE_HTTPS',
  'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TURN_SECRET', 'CONFIG_FILE', 'RUST_LOG',
  'OPERATOR_API_KEYS',
];

function serverBinary() {
  return process.env.WRW_BIN || path.resolve(__dirname, '..', '..', 'target', 'release', 'webrtc-workspaces-server');
}

function newSecrets() {
  return {
    MAGICK_TOKEN: crypto.randomBytes(32).toString('hex'),
    SALT_STRING: crypto.randomBytes(16).toString('hex'),
  };
}

// A new key for OPERATOR_API_KEYS (48 characters; the server wants at least 16).
function newApiKey() {
  return crypto.randomBytes(24).toString('hex');
}

// process.env without the server's keys, plus `extra` (a value of undefined
// or null removes that key).
function serverEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of SERVER_ENV_KEYS) delete env[k];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

const tempDirs = new Set();
function tempDir(prefix = 'wrw-test-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}
function removeDir(d) {
  fs.rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

const liveChildren = new Set();
process.on('exit', () => {
  for (const c of liveChildren) {
    try { c.kill('SIGKILL'); } catch (_) { /* already gone */ }
  }
  for (const d of tempDirs) {
    try { fs.rmSync(d, { recursive: true, force: true }); } catch (_) { /* ignore */ }
  }
});

// The events the server handles, from the binary itself (`--list-events`):
// [{name, guarded, sender?, owner_only?, restores_lapsed?}]. Run once per process.
let eventList = null;
function listEvents() {
  if (eventList) return eventList;
  const bin = serverBinary();
  const cwd = tempDir('wrw-list-events-');
  let out;
  try {
    // PORT=0 and a bound: a binary that does not know the flag serves instead.
    out = execFileSync(bin, ['--list-events'], {
      cwd, env: serverEnv({ PORT: '0', DEVELOPMENT: 'true', RUST_LOG: 'error' }),
      encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    throw new Error(`${bin} --list-events must print the event list as JSON and exit 0: ${e.message}` +
      `${e.stdout ? `\nstdout: ${String(e.stdout).slice(0, 500)}` : ''}${e.stderr ? `\nstderr: ${String(e.stderr).slice(0, 500)}` : ''}`);
  } finally {
    removeDir(cwd);
  }
  let list;
  try {
    list = JSON.parse(out);
  } catch (e) {
    throw new Error(`${bin} --list-events printed no JSON: ${e.message}\n${out.slice(0, 500)}`);
  }
  assert.ok(Array.isArray(list) && list.length > 0, `--list-events: a non-empty array, got ${out.slice(0, 300)}`);
  for (const e of list) {
    assert.ok(e && typeof e.name === 'string' && typeof e.guarded === 'boolean', `--list-events entry ${JSON.stringify(e)}`);
    if (e.guarded) {
      assert.ok(['attendee', 'broadcaster'].includes(e.sender), `--list-events: sender of ${e.name}: ${JSON.stringify(e)}`);
      assert.equal(typeof e.owner_only, 'boolean', `--list-events: owner_only of ${e.name}`);
    }
  }
  eventList = list;
  return list;
}
const guardedEvents = () => listEvents().filter((e) => e.guarded);

function kill(child, signal) {
  try { child.kill(signal); } catch (_) { /* gone */ }
}

// Resolves with {code, signal} once the server has exited; rejects after `ms`.
function waitExit(srv, ms, what = 'exit') {
  return withTimeout(srv.exit, ms, `server did not ${what}; stderr:\n${srv.stderr().slice(-3000)}`);
}

async function kill9(srv) {
  if (srv.exited) return;
  srv.expectingExit = true;
  kill(srv.child, 'SIGKILL');
  await waitExit(srv, 5000, 'die on SIGKILL');
}

// A graceful stop under test: SIGTERM, then it must exit 0 by itself within `ms`.
async function terminate(srv, ms = 10000) {
  if (srv.exited) return;
  srv.expectingExit = true;
  kill(srv.child, 'SIGTERM');
  const { code, signal } = await waitExit(srv, ms, 'exit after SIGTERM');
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `exit after SIGTERM; stderr:\n${srv.stderr().slice(-3000)}`);
}

// Cleanup: SIGTERM, SIGKILL after 3 s if still alive; the directory the
// spawner made is removed (a chosen one is the test's). Resolves {code, signal}.
async function stop(srv) {
  if (!srv.exited) {
    srv.expectingExit = true;
    kill(srv.child, 'SIGTERM');
    let t;
    await Promise.race([srv.exit, new Promise((r) => { t = setTimeout(r, 3000); })]);
    clearTimeout(t);
    if (!srv.exited) {
      kill(srv.child, 'SIGKILL');
      await srv.exit;
    }
  }
  if (srv.ownDir) removeDir(srv.dir);
  return { code: srv.code, signal: srv.signal };
}

// Cleanup where the state must not matter: SIGKILL; the spawner's own directory is removed.
async function destroy(srv) {
  if (!srv) return;
  if (!srv.exited) {
    srv.expectingExit = true;
    kill(srv.child, 'SIGKILL');
    await waitExit(srv, 5000, 'die on SIGKILL').catch(() => {});
  }
  if (srv.ownDir) removeDir(srv.dir);
}

// Spawns the server (or `cmd`, e.g. the npm wrapper) and returns its handle at
// once; `ready` resolves with the handle once the banner is printed (and, with
// metrics_address = "ip:port", the metrics banner), `exit` with {code, signal}.
// Options:
//   config      keys of config.js.toml, over `base` (a key set to undefined/null is dropped);
//               null: no config file at all
//   base        the base config (default CONFIG); false: none
//   configFile  the file to write the config to, relative to `dir` (default config.js.toml)
//   https       {key, cert, ca} paths: the [https] table, and ENABLE_HTTPS=true
//   env         environment additions; a value of undefined/null removes the key
//               (defaults: PORT=0, DEVELOPMENT=true, RUST_LOG; the server's keys of
//               process.env are never inherited)
//   secrets     {MAGICK_TOKEN, SALT_STRING} (default: new random ones); null: none
//   dir         the working directory (default: a new temp dir, removed by stop/destroy)
//   rustLog     RUST_LOG (default: $WRW_RUST_LOG or "warn")
//   cmd, args   the command (default: the server binary) and its arguments
// WRW_SERVER_LOG=<file prefix> keeps each server's stderr in a file (debugging aid).
function spawnServer({
  config = {}, base = CONFIG, configFile = 'config.js.toml', https: tls = null, env = {},
  secrets = newSecrets(), dir = null, rustLog = process.env.WRW_RUST_LOG || 'warn', cmd = null, args = [],
} = {}) {
  const ownDir = dir === null;
  if (ownDir) dir = tempDir('wrw-server-');
  let full = null;
  if (config !== null) {
    full = { ...(base || {}), ...config };
    if (tls) full.https = tls;
    const file = path.resolve(dir, configFile);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, toml(full));
  }
  const childEnv = serverEnv({
    PORT: '0', DEVELOPMENT: 'true', RUST_LOG: rustLog,
    ...(tls ? { ENABLE_HTTPS: 'true' } : {}), ...(secrets || {}), ...env,
  });
  const bin = cmd || serverBinary();
  const child = spawn(bin, args, { cwd: dir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  let stdout = '';
  let stderr = '';
  const srv = {
    child, dir, ownDir, secrets, config: full,
    url: null, host: null, port: null, metricsUrl: null,
    exited: false, code: null, signal: null, exitInfo: null, expectingExit: false,
    stdout: () => stdout,
    stderr: () => stderr,
    assertAlive() {
      if (srv.exited) assert.fail(`server exited (${srv.exitInfo}); stderr:\n${stderr.slice(-4000)}`);
    },
    stop: () => stop(srv),
    destroy: () => destroy(srv),
    kill9: () => kill9(srv),
    terminate: (ms) => terminate(srv, ms),
    waitExit: (ms, what) => waitExit(srv, ms, what),
  };
  srv.exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      Object.assign(srv, { exited: true, code, signal, exitInfo: `code ${code}, signal ${signal}` });
      liveChildren.delete(child);
      if (srv.url && !srv.expectingExit) {
        // Not stopped by the test: say so (a crash, or another process signalled it).
        process.stderr.write(`\n[harness] server pid ${child.pid} (${dir}) exited unexpectedly: ${srv.exitInfo}; stderr tail:\n${stderr.slice(-1500)}\n`);
      }
      resolve({ code, signal });
    });
    // A command that cannot be started never exits: it counts as exited.
    child.on('error', (e) => {
      if (child.pid === undefined && !srv.exited) {
        Object.assign(srv, { exited: true, exitInfo: `cannot spawn: ${e.message}` });
        liveChildren.delete(child);
        resolve({ code: null, signal: null });
      }
    });
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  const logFile = process.env.WRW_SERVER_LOG ? `${process.env.WRW_SERVER_LOG}.${process.pid}.${child.pid}.log` : null;
  const keep = (s) => (s.length > 16e6 ? s.slice(-8e6) : s);
  child.stderr.on('data', (d) => {
    if (logFile) fs.appendFileSync(logFile, d);
    stderr = keep(stderr + d);
  });
  const wantMetrics = Boolean(full && full.metrics_address && full.metrics_address !== 'off');
  srv.ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `server not listening within ${READY_TIMEOUT} ms (${bin});\nstdout:\n${stdout}\nstderr:\n${stderr}`)), READY_TIMEOUT);
    child.stdout.on('data', (d) => {
      stdout = keep(stdout + d);
      const m = BANNER_RE.exec(stdout);
      if (m && !srv.url) {
        srv.host = m[2];
        srv.url = `${m[1]}://${m[2] === '0.0.0.0' ? '127.0.0.1' : m[2]}:${m[3]}`;
        srv.port = Number(m[3]);
      }
      const mm = METRICS_BANNER_RE.exec(stdout);
      if (mm) srv.metricsUrl = mm[1];
      if (srv.url && (!wantMetrics || srv.metricsUrl)) {
        clearTimeout(timer);
        resolve(srv);
      }
    });
    srv.exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`server (${bin}) exited before listening (${srv.exitInfo});\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
  });
  srv.ready.catch(() => {});
  // Resolves once stderr written after this call matches `re` (within `ms`).
  srv.waitStderr = (re, ms = 5000, from = stderr.length) => poll(() => re.test(stderr.slice(from)),
    { timeout: ms, every: 20, what: `server stderr matching ${re}; stderr so far:\n${stderr.slice(-3000)}` });
  return srv;
}

// spawnServer, then waits until it listens (on failure it is killed).
async function startServer(opts) {
  const srv = spawnServer(opts);
  try {
    await srv.ready;
  } catch (e) {
    await destroy(srv);
    throw e;
  }
  return srv;
}

// The bytes and mtime of each file (null if absent), to check later that a
// refused start left them alone.
function snapshotFiles(files) {
  return files.map((f) => (fs.existsSync(f) ? { f, bytes: fs.readFileSync(f), mtimeMs: fs.statSync(f).mtimeMs } : { f, bytes: null }));
}

// Starts the server (spawnServer options) and expects it to refuse: it exits
// non-zero by itself without listening, its stderr names `mentions` (the key
// or file the README says the refusal names), every file in `unchanged` is
// byte for byte (and mtime) as before, and every file in `absent` still does
// not exist. Resolves with the exited server.
async function expectRefusedStart({ mentions, unchanged = [], absent = [], rustLog = 'info', ...spawnOpts }) {
  const before = snapshotFiles(unchanged);
  const srv = spawnServer({ rustLog, ...spawnOpts });
  srv.expectingExit = true;
  try {
    const { code, signal } = await waitExit(srv, 10000, 'refuse to start');
    assert.equal(signal, null, 'it exits by itself');
    assert.notEqual(code, 0, 'non-zero exit');
    assert.equal(srv.url, null, 'it never listened');
    if (mentions !== undefined) assert.ok(srv.stderr().includes(mentions), `stderr names ${mentions}:\n${srv.stderr()}`);
    for (const b of before) {
      if (b.bytes === null) {
        assert.ok(!fs.existsSync(b.f), `${b.f} was not created`);
        continue;
      }
      assert.ok(fs.readFileSync(b.f).equals(b.bytes), `${b.f} is byte-for-byte unchanged`);
      assert.equal(fs.statSync(b.f).mtimeMs, b.mtimeMs, `${b.f} was not rewritten`);
    }
    for (const f of absent) assert.ok(!fs.existsSync(f), `${f} must not exist`);
  } finally {
    await destroy(srv);
  }
  return srv;
}

// ---------------------------------------------------------------------------
// HTTP.

// One HTTP(S) request with a bound; resolves {status, headers, body}.
// `localAddress`: the client address to send from (e.g. 127.0.0.2: any
// 127.x.y.z reaches the loopback, and the server sees another client).
function request(url, { method = 'GET', headers = {}, body = null, ca, agent = false, timeout = 5000, localAddress } = {}) {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, ca, agent, timeout, localAddress }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeout} ms`)));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}
const get = (url, opts) => request(url, opts);

// One request to the operator API (`/api/v1`, with OPERATOR_API_KEYS) of srv:
// `path` under `base` (default srv.apiUrl, else srv.url). `key`: sent as
// `Authorization: Bearer <key>`; `body`: a string or Buffer is sent as is,
// anything else (not undefined) as JSON, either with Content-Type
// application/json; `headers` over those; `localAddress`, `ca` and `timeout`
// as for request(). Resolves {status, headers, body (text), json (parsed, or
// undefined when the body is not JSON)}.
async function api(srv, method, apiPath, { key, body, headers = {}, base, localAddress, ca, timeout } = {}) {
  const h = {};
  let data = null;
  if (key !== undefined) h.authorization = `Bearer ${key}`;
  if (body !== undefined) {
    data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const url = `${base || srv.apiUrl || srv.url}${apiPath}`;
  const r = await request(url, { method, headers: { ...h, ...headers }, body: data, localAddress, ca, timeout });
  let json;
  try { json = JSON.parse(r.body); } catch (_) { /* not JSON */ }
  return { ...r, json };
}

// Asserts that an operator API answer `r` is a success with `status` (a
// JSON body, or none for 204); returns its parsed body.
function apiOk(r, status, what = '') {
  const shown = `${what ? `${what}: ` : ''}${r.status} ${String(r.body).slice(0, 300)}`;
  assert.equal(r.status, status, shown);
  if (status === 204) {
    assert.equal(r.body, '', `204 has no body: ${shown}`);
    return null;
  }
  assert.match(String(r.headers['content-type']), /^application\/json/, `Content-Type of ${shown}`);
  assert.notEqual(r.json, undefined, `a JSON body: ${shown}`);
  return r.json;
}

// Asserts that an operator API answer `r` is the error `code` (a string, or
// a RegExp it must match) with `status` (a number, or a list of those
// allowed): a JSON body that is exactly {"error":{"code","message"}}, the
// message some text.
function apiError(r, status, code, what = '') {
  const shown = `${what ? `${what}: ` : ''}${r.status} ${String(r.body).slice(0, 300)}`;
  if (Array.isArray(status)) assert.ok(status.includes(r.status), `status one of ${status.join(', ')}: ${shown}`);
  else assert.equal(r.status, status, shown);
  assert.match(String(r.headers['content-type']), /^application\/json/, `Content-Type of ${shown}`);
  assert.ok(r.json && typeof r.json === 'object' && !Array.isArray(r.json), `a JSON object: ${shown}`);
  assert.deepEqual(Object.keys(r.json), ['error'], `only "error": ${shown}`);
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message'], `error has code and message: ${shown}`);
  if (code instanceof RegExp) assert.match(String(r.json.error.code), code, shown);
  else assert.equal(r.json.error.code, code, shown);
  assert.equal(typeof r.json.error.message, 'string', shown);
  assert.ok(r.json.error.message.trim().length > 0, `a message: ${shown}`);
}

// GET /health; asserts a 200 JSON answer and returns its body.
async function health(srv) {
  const r = await get(`${srv.url}/health`);
  assert.equal(r.status, 200, `/health: ${r.status} ${r.body}`);
  assert.match(String(r.headers['content-type']), /application\/json/);
  return JSON.parse(r.body);
}

// Prometheus text format -> [{name, labels:{}, value}]
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

// The value of the one sample `name` whose labels include `labels`; `dflt` if none.
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

// One metric read from a fresh scrape (asserted present).
async function readMetric(baseUrl, name, labels = {}) {
  const v = metric(await scrape(baseUrl), name, labels);
  assert.notEqual(v, undefined, `metric ${name}${JSON.stringify(labels)} in /metrics`);
  return v;
}

// ---------------------------------------------------------------------------
// socket.io clients and what they receive.

function loadIo(client) {
  const mod = require(`sio-${client}`);
  return typeof mod === 'function' ? mod : (mod.io || mod.default);
}

function describeEntries(entries) {
  return JSON.stringify(entries.map((e) => [e.event, e.payload])).slice(0, 1500);
}

const violations = [];
// Returns (and forgets) the protocol violations seen by any recorder so far.
function takeViolations() {
  return violations.splice(0, violations.length);
}

const matches = (events, entry) => events === null || (Array.isArray(events) ? events.includes(entry.event) : events === entry.event);

// Installs the event recorder on a socket.
function record(socket, variant, label) {
  const rec = { entries: [], waiters: [], label, seq: 0, sids: [], disconnects: [] };
  socket.__rec = rec;
  const push = (event, args) => {
    // docs/PROTOCOL.md § Transport: every application event is 42["name", ONE_ARGUMENT], no acks.
    if (args.length !== 1) violations.push(`${label} received '${event}' with ${args.length} arguments`);
    const entry = { event, payload: args[0], nargs: args.length, seq: rec.seq++, consumed: false };
    rec.entries.push(entry);
    for (let i = 0; i < rec.waiters.length; i++) {
      const w = rec.waiters[i];
      if (entry.seq >= w.since && matches(w.events, entry)) {
        rec.waiters.splice(i, 1);
        entry.consumed = true;
        clearTimeout(w.timer);
        w.resolve(entry);
        break;
      }
    }
  };
  if (variant.client === '4') {
    socket.onAny((event, ...args) => push(event, args));
  } else {
    const orig = socket.onevent;
    socket.onevent = function onevent(packet) {
      const data = (packet && packet.data) || [];
      if (packet && packet.id != null) violations.push(`${label} received '${data[0]}' with an ack id`);
      push(data[0], data.slice(1));
      return orig.call(this, packet);
    };
  }
  return rec;
}

// Connects a client of `variant` ({client: '2.0.4'|'2.5.0'|'4', transport:
// 'polling'|'websocket'|'both'}) and resolves once it is connected.
// `opts` (or a label string, with `extra` options): label, timeout (of the
// connect), reconnection (default false: a reload is a new socket; with true
// a connect error is retried until the timeout), and any client/engine option
// (extraHeaders, agent, ca, rejectUnauthorized...). A refused connection
// rejects with `connectError` set to the server's message.
// The socket records every event (__rec) and every disconnect (__disconnects,
// reasons; __disconnected, the first one).
function connect(url, variant = V4_WS, opts = {}, extra = {}) {
  if (typeof opts === 'string') opts = { label: opts, ...extra };
  const { label = 'client', timeout = 10000, reconnection = false, ...clientOpts } = opts;
  const io = loadIo(variant.client);
  const o = { forceNew: true, reconnection, timeout: 5000, ...clientOpts };
  if (reconnection) Object.assign(o, { reconnectionDelay: 100, reconnectionDelayMax: 1000, reconnectionAttempts: 30 }, clientOpts);
  if (variant.transport === 'polling') {
    o.transports = ['polling'];
    o.upgrade = false;
  } else if (variant.transport === 'websocket') {
    o.transports = ['websocket'];
  }
  const socket = io(url, o);
  socket.__variant = variant;
  socket.__label = label;
  const rec = record(socket, variant, label);
  socket.__errors = [];
  socket.__disconnects = [];
  socket.on('connect', () => rec.sids.push(socket.id));
  socket.__disconnected = new Promise((resolve) => socket.on('disconnect', (reason) => {
    rec.disconnects.push(`${new Date().toISOString()} ${reason}`);
    socket.__disconnects.push(reason);
    if (!socket.__disconnectReason) socket.__disconnectReason = `${reason} at ${new Date().toISOString()}`;
    resolve(reason);
  }));
  return new Promise((resolve, reject) => {
    let settled = false;
    let lastErr = null;
    const fail = (msg) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      close(socket);
      const e = new Error(`${label}: ${msg}`);
      e.connectError = msg;
      reject(e);
    };
    const timer = setTimeout(() => fail(`no connection within ${timeout} ms (${variant.client}/${variant.transport})` +
      (lastErr ? `: ${lastErr}` : '')), timeout);
    // v4: connect_error with the server's message; v2: `error` with the message (a string).
    socket.on('connect_error', (e) => {
      const msg = e && e.message ? `${e.message}${e.description ? ` (${e.description.message || e.description})` : ''}` : String(e);
      socket.__errors.push(msg);
      lastErr = msg;
      if (!reconnection) fail(`connect_error ${msg}`);
    });
    socket.on('error', (e) => {
      const msg = e && e.message ? e.message : (typeof e === 'string' ? e : JSON.stringify(e));
      socket.__errors.push(msg);
      lastErr = msg;
      if (!socket.connected && !reconnection) fail(`error ${msg}`);
    });
    socket.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

function close(...sockets) {
  for (const s of sockets.flat()) {
    try { s.close(); } catch (_) { /* ignore */ }
  }
}

// Vanishes without `leave` and without a Socket.IO disconnect packet:
// closes the Engine.IO connection under the socket.
function vanish(socket) {
  socket.io.engine.close();
}

// The reasons a socket was disconnected other than its own close()
// (`allowDisconnect` on the socket: expected by the test).
function unexpectedDisconnects(socket) {
  if (socket.__allowDisconnect) return [];
  return socket.__disconnects.filter((r) => r !== 'io client disconnect');
}

// Resolves with the next unconsumed entry (of `events`: null for any, a name,
// or a list of names, recorded at or after `since`), waiting at most `timeout` ms.
function nextEntry(socket, events = null, { since = 0, timeout = DEFAULT_TIMEOUT, after = '' } = {}) {
  const rec = socket.__rec;
  const found = rec.entries.find((e) => !e.consumed && e.seq >= since && matches(events, e));
  if (found) {
    found.consumed = true;
    return Promise.resolve(found);
  }
  return new Promise((resolve, reject) => {
    const w = { events, since, resolve };
    w.timer = setTimeout(() => {
      const i = rec.waiters.indexOf(w);
      if (i >= 0) rec.waiters.splice(i, 1);
      const recent = rec.entries.filter((e) => e.seq >= since).slice(-10);
      const what = events === null ? 'any event' : Array.isArray(events) ? `one of ${events.join(',')}` : `'${events}'`;
      reject(new Error(`${rec.label} (sid ${socket.id}): timed out after ${timeout} ms waiting for ${what}${after}` +
        `; connected=${socket.connected}; received since: ${describeEntries(recent)}` +
        (rec.disconnects.length ? `; sids ${rec.sids.join(',')}; disconnects: ${rec.disconnects.join(', ')}` : '')));
    }, timeout);
    rec.waiters.push(w);
  });
}

// The same, resolving with null instead of failing when nothing comes in time.
function firstOf(socket, events, { since = 0, timeout = 2000 } = {}) {
  return nextEntry(socket, events, { since, timeout }).catch(() => null);
}

// Resolves with the payload of the next (or an already-recorded unconsumed) `event`.
async function waitFor(socket, event, opts) {
  if (typeof opts === 'number') opts = { timeout: opts };
  const e = await nextEntry(socket, event, opts || {});
  return e.payload;
}

// Resolves with {event, payload} of the next event of any name.
async function next(socket, opts) {
  if (typeof opts === 'number') opts = { timeout: opts };
  const e = await nextEntry(socket, null, opts || {});
  return { event: e.event, payload: e.payload };
}

// The events that answer a request.
const REPLIES = ['created', 'attendance-granted', 're-attendance-granted', 'attendees', 'alert', 'full', 'destroyed', 'iceservers'];

// Emits `event` and resolves with {event, payload} of the first of `replies` after it.
async function ask(socket, event, payload, { timeout = DEFAULT_TIMEOUT, replies = REPLIES } = {}) {
  const since = socket.__rec.seq;
  socket.emit(event, payload);
  const after = ` after '${event}' ${JSON.stringify(payload).slice(0, 200)} at ${new Date().toISOString()}`;
  const e = await nextEntry(socket, replies, { since, timeout, after });
  return { event: e.event, payload: e.payload };
}

// Emits `event` and resolves with the payload of the next `reply`.
async function reply(socket, event, payload, replyEvent, timeout = DEFAULT_TIMEOUT) {
  return (await ask(socket, event, payload, { timeout, replies: [replyEvent] })).payload;
}

// The protocol's requests, as the library makes them.
async function create(socket, { name = 'ws', pin = '', attendee = 'owner', nonce } = {}) {
  const r = await ask(socket, 'create', {
    workspace: { name, pin, avatar: `${name}.png` },
    attendee: { name: attendee, avatar: `${attendee}.png` },
    nonce,
  });
  assert.equal(r.event, 'created', `create answered ${JSON.stringify(r)}`);
  return r.payload;
}

function attend(socket, token, pin = '', name = 'guest') {
  return ask(socket, 'attend', { workspace: { token, pin }, attendee: { name, avatar: `${name}.png` } });
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

function reAttend(socket, session) {
  return ask(socket, 're-attend', reAttendPayload(session));
}

function mark(...sockets) {
  const m = new Map();
  for (const s of sockets.flat()) m.set(s, s.__rec.seq);
  return m;
}

function drain(...sockets) {
  for (const s of sockets.flat()) for (const e of s.__rec.entries) e.consumed = true;
}

// Barrier + assertion: each marked socket does an `iceservers` round trip
// (the server handles a socket's events in order), then must have recorded
// nothing since its mark other than that reply and the `allowed` entries.
async function quiet(marks, allowed = []) {
  await Promise.all([...marks.keys()].map(async (s) => {
    const since = s.__rec.seq;
    s.emit('iceservers', {});
    const r = await nextEntry(s, 'iceservers', { since });
    const extra = s.__rec.entries.filter((e) => e.seq >= marks.get(s) && e !== r && !allowed.includes(e));
    assert.deepEqual(extra.map((e) => [e.event, e.payload]), [],
      `${s.__rec.label} must have received nothing, got: ${describeEntries(extra)}`);
  }));
}

// A collection of clients closed together; it remembers every socket it made
// so that a test can ask whether the server dropped any of them.
class Pool {
  // `opts`: connect options for every socket (e.g. {reconnection: true}).
  constructor(server, variant, opts = {}) {
    this.server = server;
    this.variant = variant;
    this.opts = opts;
    this.sockets = [];
    this.all = [];
    this.reported = new Set();
  }

  async connect(label, opts = {}) {
    this.server.assertAlive();
    const s = await connect(this.server.url, this.variant, { label, ...this.opts, ...opts });
    this.sockets.push(s);
    this.all.push(s);
    return s;
  }

  // `label: reason` of each socket disconnected by anything but its own close(), once each.
  unexpectedDisconnects() {
    const out = [];
    for (const s of this.all) {
      const bad = unexpectedDisconnects(s);
      if (bad.length && !this.reported.has(s)) {
        this.reported.add(s);
        out.push(`${s.__label} (sids ${s.__rec.sids.join(',')}): ${s.__rec.disconnects.join(', ')}`);
      }
    }
    return out;
  }

  close() {
    close(this.sockets);
    this.sockets = [];
  }
}

// Per-test (or per-file, with `after`) bookkeeping: the servers and sockets a
// test started are closed after it (servers with SIGKILL: their state must
// not matter), and the `dirs` it registered are removed.
function tracked(hook) {
  const servers = [];
  const sockets = [];
  const dirs = [];
  const closeAll = () => close(sockets.splice(0));
  hook(async () => {
    closeAll();
    for (const srv of servers.splice(0)) await destroy(srv);
    for (const d of dirs.splice(0)) removeDir(d);
  });
  return {
    servers,
    sockets,
    dirs,
    closeAll,
    dir(prefix) {
      const d = tempDir(prefix);
      dirs.push(d);
      return d;
    },
    spawn(opts) {
      const srv = spawnServer(opts);
      servers.push(srv);
      return srv;
    },
    async start(opts) {
      const srv = spawnServer(opts);
      servers.push(srv);
      await srv.ready;
      return srv;
    },
    async conn(srv, variant, label, extra) {
      const s = await connect(srv.url, variant, label, extra);
      sockets.push(s);
      return s;
    },
  };
}

// ---------------------------------------------------------------------------
// JWTs: read claims, forge tokens.

const b64url = (obj) => Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj)).toString('base64url');

function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

function signHS(claims, secret, alg = 'HS256') {
  const head = b64url({ alg, typ: 'JWT' });
  const body = b64url(claims);
  const algo = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  const sig = crypto.createHmac(algo, secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

// The claims with {"alg":"none"} and no signature.
function algNone(claims) {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
}

// Changes one character in the middle of a JWT's signature (not the last one,
// whose low bits are base64 padding).
function tamper(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'tokens are JWTs');
  const sig = parts[2];
  const i = Math.floor(sig.length / 2);
  parts[2] = sig.slice(0, i) + (sig[i] === 'A' ? 'B' : 'A') + sig.slice(i + 1);
  return parts.join('.');
}

function findKeyDeep(value, key, p = '$') {
  if (value && typeof value === 'object') {
    if (!Array.isArray(value) && Object.prototype.hasOwnProperty.call(value, key)) return `${p}.${key}`;
    for (const [k, v] of Object.entries(value)) {
      const r = findKeyDeep(v, key, `${p}.${k}`);
      if (r) return r;
    }
  }
  return null;
}

module.exports = {
  CONFIG, ID_LEN, ID_RE, idRe, fakeId, TEXT, VARIANTS, V4_WS, V4_POLL, V2_WS, V2_POLL, DEFAULT_TIMEOUT, REPLIES,
  BANNER_RE, METRICS_BANNER_RE, SERVER_ENV_KEYS,
  delay, withTimeout, poll,
  toml, serverBinary, serverEnv, newSecrets, newApiKey, tempDir, removeDir, listEvents, guardedEvents,
  spawnServer, startServer, expectRefusedStart, waitExit, kill9, terminate, stop, destroy, tracked,
  request, get, api, apiOk, apiError, health, parseProm, metric, scrape, readMetric,
  loadIo, record, connect, close, vanish, unexpectedDisconnects, nextEntry, firstOf, waitFor, next, ask, reply,
  create, attend, attendOk, reAttendPayload, reAttend,
  mark, drain, quiet, Pool, findKeyDeep, takeViolations, claimsOf, signHS, algNone, tamper,
};
