'use strict';
// Test harness: spawns the real server binary (see ../CONTRACT.md), connects
// socket.io clients of a given variant, records every event they receive and
// offers bounded waits. No sleeps: every wait is an awaited event with a bound.

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');

const DEFAULT_TIMEOUT = 5000;
const READY_TIMEOUT = 15000;

const CONFIG = {
  host: '127.0.0.1',
  untitled_workspace: 'Untitled',
  default_workspace_avatar: 'ws.png',
  anonymous_attendee: 'Anonymous',
  default_attendee_avatar: 'att.png',
  max_capacity_of_workspace: 4,
};

const CONFIG_TOML = `host = "127.0.0.1"
untitled_workspace = "Untitled"
default_workspace_avatar = "ws.png"
anonymous_attendee = "Anonymous"
default_attendee_avatar = "att.png"
max_capacity_of_workspace = 4
`;

const VARIANTS = [];
for (const client of ['2.0.4', '2.5.0', '4']) {
  for (const transport of ['polling', 'websocket']) VARIANTS.push({ client, transport });
}

function serverBinary() {
  return process.env.WRW_BIN || path.resolve(__dirname, '..', '..', 'target', 'release', 'webrtc-workspaces-server');
}

const liveChildren = new Set();
process.on('exit', () => {
  for (const c of liveChildren) {
    try { c.kill('SIGKILL'); } catch (_) { /* already gone */ }
  }
});

// Spawns the server per CONTRACT.md; resolves once it prints "listening on".
function startServer() {
  const bin = serverBinary();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrw-clients-'));
  fs.writeFileSync(path.join(dir, 'config.js.toml'), CONFIG_TOML);
  const env = {
    ...process.env,
    PORT: '0',
    DEVELOPMENT: 'true',
    MAGICK_TOKEN: crypto.randomBytes(32).toString('hex'),
    SALT_STRING: crypto.randomBytes(16).toString('hex'),
    RUST_LOG: process.env.WRW_RUST_LOG || 'warn',
  };
  let stdout = '';
  let stderr = '';
  const child = spawn(bin, [], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // WRW_SERVER_LOG=<file prefix>: keep the server's full stderr there (debugging aid).
  const logFile = process.env.WRW_SERVER_LOG ? `${process.env.WRW_SERVER_LOG}.${process.pid}.log` : null;
  liveChildren.add(child);
  const server = {
    child,
    dir,
    url: null,
    exited: false,
    exitInfo: null,
    stderr: () => stderr,
    stdout: () => stdout,
    assertAlive() {
      if (server.exited) {
        assert.fail(`server exited (${server.exitInfo}); stderr:\n${stderr.slice(-4000)}`);
      }
    },
    async stop() {
      if (!server.exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        let t;
        const killed = new Promise((resolve) => {
          t = setTimeout(() => { try { child.kill('SIGKILL'); } catch (_) { /* gone */ } resolve(); }, 3000);
        });
        await Promise.race([gone, killed]);
        clearTimeout(t);
        if (!server.exited) await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        try { child.kill('SIGKILL'); } catch (_) { /* gone */ }
        reject(err);
      } else {
        resolve(server);
      }
    };
    const timer = setTimeout(() => finish(new Error(
      `server did not print "listening on" within ${READY_TIMEOUT} ms (${bin});\nstdout:\n${stdout}\nstderr:\n${stderr}`)), READY_TIMEOUT);
    child.on('error', (e) => finish(new Error(`cannot spawn ${bin}: ${e.message}`)));
    child.on('exit', (code, signal) => {
      server.exited = true;
      server.exitInfo = `code ${code}, signal ${signal}`;
      liveChildren.delete(child);
      finish(new Error(`server exited before listening (code ${code}, signal ${signal});\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      if (logFile) fs.appendFileSync(logFile, d);
      stderr += d; if (stderr.length > 200000) stderr = stderr.slice(-100000); });
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /listening on (https?):\/\/([0-9.]+):(\d+)/.exec(stdout);
      if (m && !server.url) {
        const host = m[2] === '0.0.0.0' ? '127.0.0.1' : m[2];
        server.url = `${m[1]}://${host}:${m[3]}`;
        server.port = Number(m[3]);
        finish(null);
      }
      if (stdout.length > 200000) stdout = stdout.slice(-100000);
    });
  });
}

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

// Installs the event recorder on a socket.
function record(socket, variant, label) {
  const rec = { entries: [], waiters: [], label, seq: 0, sids: [], disconnects: [] };
  socket.__rec = rec;
  const push = (event, args) => {
    // PROTOCOL.md: every application event is 42["name", ONE_ARGUMENT], no acks.
    if (args.length !== 1) violations.push(`${label} received '${event}' with ${args.length} arguments`);
    const entry = { event, payload: args[0], nargs: args.length, seq: rec.seq++, consumed: false };
    rec.entries.push(entry);
    for (let i = 0; i < rec.waiters.length; i++) {
      const w = rec.waiters[i];
      if (entry.seq >= w.since && (w.event === null || w.event === entry.event)) {
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

// Connects a new client of the given variant and resolves once connected.
function connect(url, variant, label = 'client', timeoutMs = 10000) {
  const io = loadIo(variant.client);
  const opts = {
    forceNew: true,
    reconnection: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 1000,
    reconnectionAttempts: 30,
    timeout: 5000,
  };
  if (variant.transport === 'polling') {
    opts.transports = ['polling'];
    opts.upgrade = false;
  } else {
    opts.transports = ['websocket'];
  }
  const socket = io(url, opts);
  socket.__variant = variant;
  socket.__label = label;
  const rec = record(socket, variant, label);
  socket.on('connect', () => rec.sids.push(socket.id));
  socket.on('disconnect', (reason) => rec.disconnects.push(`${new Date().toISOString()} ${reason}`));
  return new Promise((resolve, reject) => {
    let lastErr = null;
    const onErr = (e) => { lastErr = e; };
    const timer = setTimeout(() => {
      socket.off ? socket.off('connect_error', onErr) : socket.removeListener('connect_error', onErr);
      socket.close();
      reject(new Error(`${label}: no connection within ${timeoutMs} ms (${variant.client}/${variant.transport})` +
        (lastErr ? `: ${lastErr.message || lastErr}` : '')));
    }, timeoutMs);
    socket.on('connect_error', onErr);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('connect_error', onErr);
      resolve(socket);
    });
  });
}

function close(socket) {
  try { socket.close(); } catch (_) { /* ignore */ }
}

// Resolves with the next unconsumed entry (optionally of a given event, and
// recorded at or after `since`), waiting at most `timeout` ms.
function nextEntry(socket, event = null, { since = 0, timeout = DEFAULT_TIMEOUT } = {}) {
  const rec = socket.__rec;
  const found = rec.entries.find((e) => !e.consumed && e.seq >= since && (event === null || e.event === event));
  if (found) {
    found.consumed = true;
    return Promise.resolve(found);
  }
  return new Promise((resolve, reject) => {
    const w = { event, since, resolve };
    w.timer = setTimeout(() => {
      const i = rec.waiters.indexOf(w);
      if (i >= 0) rec.waiters.splice(i, 1);
      const recent = rec.entries.filter((e) => e.seq >= since).slice(-10);
      reject(new Error(`${rec.label} (sid ${socket.id}): timed out after ${timeout} ms waiting for ${event === null ? 'any event' : `'${event}'`}` +
        `; received since: ${describeEntries(recent)}` +
        (rec.disconnects.length ? `; sids ${rec.sids.join(',')}; disconnects: ${rec.disconnects.join(', ')}` : '')));
    }, timeout);
    rec.waiters.push(w);
  });
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
    const reply = await nextEntry(s, 'iceservers', { since });
    const extra = s.__rec.entries.filter((e) => e.seq >= marks.get(s) && e !== reply && !allowed.includes(e));
    assert.deepEqual(extra.map((e) => [e.event, e.payload]), [],
      `${s.__rec.label} must have received nothing, got: ${describeEntries(extra)}`);
  }));
}

// Per-test / per-fixture collection of clients, closed together.
class Pool {
  constructor(server, variant) {
    this.server = server;
    this.variant = variant;
    this.sockets = [];
  }

  async connect(label) {
    this.server.assertAlive();
    const s = await connect(this.server.url, this.variant, label);
    this.sockets.push(s);
    return s;
  }

  close() {
    for (const s of this.sockets) close(s);
    this.sockets = [];
  }
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
  CONFIG,
  CONFIG_TOML,
  VARIANTS,
  DEFAULT_TIMEOUT,
  startServer,
  serverBinary,
  connect,
  close,
  record,
  nextEntry,
  waitFor,
  next,
  mark,
  drain,
  quiet,
  Pool,
  findKeyDeep,
  takeViolations,
};
