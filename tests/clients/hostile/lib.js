'use strict';
// Helpers for the hostile-client suite (issue #5): spawn the server with extra
// config keys (limits), keep its secrets (to forge tokens), connect clients
// with extra options (extraHeaders, agent with a local address), HTTP GETs,
// JWT forging. Every wait is bounded.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const assert = require('node:assert/strict');
const h = require('../harness.js');

const READY_TIMEOUT = 15000;

// The contract's alert texts (suite.js), plus the limits' own.
const TEXT = {
  ...require('../suite.js').TEXT,
  PIN_LOCKED: 'Too many wrong PINs. Please wait a minute before trying again.',
  CREATE_LIMIT: 'Too many workspaces created from your address. Please try again later.',
  LIVE_LIMIT: 'The server has reached its workspace limit. Please try again later.',
  RATE_LIMITED: 'Too many events; slow down.',
  TOO_MANY_CONNECTIONS: 'Too many connections from your address.',
};

const BASE_CONFIG = h.CONFIG;

function tomlValue(v) {
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (typeof v === 'string') return JSON.stringify(v);
  return `${v}`;
}

function toml(config) {
  return Object.entries(config).map(([k, v]) => {
    // events_per_second / event_burst / failed_pin_window_secs are floats in the config.
    if (typeof v === 'number' && ['events_per_second', 'event_burst', 'failed_pin_window_secs'].includes(k)) {
      return `${k} = ${Number.isInteger(v) ? `${v}.0` : v}`;
    }
    return `${k} = ${tomlValue(v)}`;
  }).join('\n') + '\n';
}

const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch (_) { /* gone */ }
  }
});

// Spawns the binary per CONTRACT.md with config.js.toml = BASE_CONFIG + `config`.
function startServer(config = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrw-hostile-'));
  const full = { ...BASE_CONFIG, ...config };
  fs.writeFileSync(path.join(dir, 'config.js.toml'), toml(full));
  const secrets = {
    MAGICK_TOKEN: crypto.randomBytes(32).toString('hex'),
    SALT_STRING: crypto.randomBytes(16).toString('hex'),
  };
  const env = { ...process.env, PORT: '0', DEVELOPMENT: 'true', ...secrets, RUST_LOG: process.env.WRW_RUST_LOG || 'warn' };
  delete env.CONFIG_FILE;
  const child = spawn(h.serverBinary(), [], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const srv = {
    child, dir, secrets, config: full, url: null, port: null, exited: false, exitInfo: null,
    stdout: () => stdout,
    stderr: () => stderr,
    assertAlive() {
      if (srv.exited) assert.fail(`server exited (${srv.exitInfo}); stderr:\n${stderr.slice(-4000)}`);
    },
    async stop() {
      if (!srv.exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        let t;
        const killed = new Promise((resolve) => {
          t = setTimeout(() => { try { child.kill('SIGKILL'); } catch (_) { /* gone */ } resolve(); }, 3000);
        });
        await Promise.race([gone, killed]);
        clearTimeout(t);
        if (!srv.exited) await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  // HOSTILE_SERVER_LOG=<file prefix>: keep each server's stderr there (debugging aid).
  const logFile = process.env.HOSTILE_SERVER_LOG ? `${process.env.HOSTILE_SERVER_LOG}.${process.pid}.${child.pid}.log` : null;
  child.stderr.on('data', (d) => {
    if (logFile) fs.appendFileSync(logFile, d);
    stderr += d;
    if (stderr.length > 200000) stderr = stderr.slice(-100000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try { child.kill('SIGKILL'); } catch (_) { /* gone */ }
      reject(new Error(`server not listening within ${READY_TIMEOUT} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, READY_TIMEOUT);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, signal) => {
      srv.exited = true;
      srv.exitInfo = `code ${code}, signal ${signal}`;
      live.delete(child);
      clearTimeout(timer);
      if (!srv.url) reject(new Error(`server exited before listening (${srv.exitInfo})\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /listening on (https?):\/\/([0-9.]+):(\d+)/.exec(stdout);
      if (m && !srv.url) {
        srv.host = m[2];
        srv.port = Number(m[3]);
        srv.url = `${m[1]}://${m[2] === '0.0.0.0' ? '127.0.0.1' : m[2]}:${m[3]}`;
        clearTimeout(timer);
        resolve(srv);
      }
      if (stdout.length > 200000) stdout = stdout.slice(-100000);
    });
  });
}

function loadIo(client) {
  const mod = require(`sio-${client}`);
  return typeof mod === 'function' ? mod : (mod.io || mod.default);
}

// Connects a client (recorded by the harness recorder). `extra` is merged into
// the client options (extraHeaders, agent, reconnection, ...). Rejects with the
// connect error when the server refuses the connection.
function connect(url, variant, label = 'client', extra = {}, timeoutMs = 10000) {
  const io = loadIo(variant.client);
  const opts = { forceNew: true, reconnection: false, timeout: 5000, ...extra };
  if (variant.transport === 'polling') {
    opts.transports = ['polling'];
    opts.upgrade = false;
  } else {
    opts.transports = ['websocket'];
  }
  const socket = io(url, opts);
  socket.__variant = variant;
  socket.__label = label;
  const rec = h.record(socket, variant, label);
  socket.__errors = [];
  socket.__disconnects = [];
  socket.__disconnected = new Promise((resolve) => socket.on('disconnect', (reason) => {
    socket.__disconnects.push(reason);
    resolve(reason);
  }));
  socket.on('connect', () => rec.sids.push(socket.id));
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (msg) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try { socket.close(); } catch (_) { /* ignore */ }
      const e = new Error(`${label}: ${msg}`);
      e.connectError = msg;
      reject(e);
    };
    const timer = setTimeout(() => fail(`no connection within ${timeoutMs} ms (${variant.client}/${variant.transport})`), timeoutMs);
    // v4: connect_error with the server's message; v2: `error` with the message (a string).
    socket.on('connect_error', (e) => {
      socket.__errors.push(e && e.message ? e.message : String(e));
      if (!opts.reconnection) fail(`connect_error ${e && e.message ? e.message : e}`);
    });
    socket.on('error', (e) => {
      const msg = e && e.message ? e.message : (typeof e === 'string' ? e : JSON.stringify(e));
      socket.__errors.push(msg);
      if (!socket.connected) fail(`error ${msg}`);
    });
    socket.once('connect', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

function close(socket) {
  try { socket.close(); } catch (_) { /* ignore */ }
}

// GET `p`; resolves {status, body}, bounded.
function get(url, p = '/', timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}${p}`, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${p}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

async function metric(url, name) {
  const { status, body } = await get(url, '/metrics');
  assert.equal(status, 200, '/metrics answers');
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(body);
  assert.ok(m, `metric ${name} in /metrics`);
  return Number(m[1]);
}

// Resolves with the first unconsumed entry whose event is in `events`,
// recorded at/after `since`, within `timeout` ms; null on timeout.
function firstOf(socket, events, { since = 0, timeout = 2000 } = {}) {
  const rec = socket.__rec;
  const match = (e) => !e.consumed && e.seq >= since && events.includes(e.event);
  const found = rec.entries.find(match);
  if (found) { found.consumed = true; return Promise.resolve(found); }
  return new Promise((resolve) => {
    let t = null;
    const waiters = events.map((ev) => {
      const w = { event: ev, since, resolve: (entry) => { cleanup(w); resolve(entry); } };
      w.timer = null;
      return w;
    });
    const cleanup = (keep) => {
      clearTimeout(t);
      for (const w of waiters) {
        if (w === keep) continue;
        const i = rec.waiters.indexOf(w);
        if (i >= 0) rec.waiters.splice(i, 1);
      }
    };
    t = setTimeout(() => { cleanup(null); resolve(null); }, timeout);
    rec.waiters.push(...waiters);
  });
}

// --- JWT forging -----------------------------------------------------------
const b64 = (obj) => Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj)).toString('base64url');

function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

function signHS(claims, secret, alg = 'HS256') {
  const head = b64({ alg, typ: 'JWT' });
  const body = b64(claims);
  const algo = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg];
  const sig = crypto.createHmac(algo, secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function algNone(claims) {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}

function tamper(token) {
  const parts = token.split('.');
  const sig = parts[2];
  const i = Math.floor(sig.length / 2);
  parts[2] = sig.slice(0, i) + (sig[i] === 'A' ? 'B' : 'A') + sig.slice(i + 1);
  return parts.join('.');
}

// Deeply nested JSON the client can send: built iteratively (JSON.stringify of
// a depth-10000 value recurses 10000 frames, well within Node's stack).
function deepObject(depth) {
  let v = {};
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}
function deepArray(depth) {
  let v = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

module.exports = {
  TEXT, BASE_CONFIG, toml, startServer, connect, close, get, metric, firstOf,
  claimsOf, signHS, algNone, tamper, deepObject, deepArray, loadIo,
};
