'use strict';
// Helpers for the deployment end-to-end tests (issue #3): spawn the real
// binary (or the npm wrapper) with a chosen environment and config file in a
// temp cwd, make certificates with the openssl CLI, read the certificate a new
// TLS connection sees, run a Twilio API stub, and connect socket.io clients
// with TLS options. Every wait is bounded; every child and temp dir is cleaned.

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const tls = require('node:tls');
const h = require('../harness.js');

const READY_TIMEOUT = 15000;
const REPO = path.resolve(__dirname, '..', '..', '..');

// Keys of the server's environment that the tests always set themselves, so
// that whatever the developer's shell exports does not leak into a test.
const SERVER_ENV_KEYS = [
  'PORT', 'DEVELOPMENT', 'MAGICK_TOKEN', 'SALT_STRING', 'ENABLE_HTTPS',
  'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TURN_SECRET', 'CONFIG_FILE', 'RUST_LOG',
];

function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of SERVER_ENV_KEYS) delete env[k];
  return { ...env, ...extra };
}

function secrets() {
  return {
    MAGICK_TOKEN: crypto.randomBytes(32).toString('hex'),
    SALT_STRING: crypto.randomBytes(16).toString('hex'),
  };
}

const BASE_CONFIG = {
  host: '127.0.0.1',
  untitled_workspace: 'Untitled',
  default_workspace_avatar: 'ws.png',
  anonymous_attendee: 'Anonymous',
  default_attendee_avatar: 'att.png',
  max_capacity_of_workspace: 4,
};

// A flat object (plus object values as [tables], written last) as TOML.
function toml(config) {
  const val = (v) => (Array.isArray(v) ? `[${v.map(val).join(', ')}]`
    : typeof v === 'string' ? JSON.stringify(v) : String(v));
  const top = [];
  const tables = [];
  for (const [k, v] of Object.entries(config)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      tables.push(`[${k}]\n${Object.entries(v).map(([a, b]) => `${a} = ${val(b)}`).join('\n')}`);
    } else {
      top.push(`${k} = ${val(v)}`);
    }
  }
  return [...top, ...tables].join('\n') + '\n';
}

const tempDirs = new Set();
function tempDir(prefix = 'wrw-deploy-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}
function removeDir(d) {
  fs.rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch (_) { /* gone */ }
  }
  for (const d of tempDirs) {
    try { fs.rmSync(d, { recursive: true, force: true }); } catch (_) { /* ignore */ }
  }
});

function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

// Spawns `cmd args` in `dir` (default: the server binary in a new temp dir).
// `config`: object written as config.js.toml (null: no file). Returns a handle
// at once; `ready` resolves with the URL once the banner is printed, `exit`
// resolves with {code, signal}.
function spawnServer({ dir = null, config = BASE_CONFIG, env = {}, cmd = null, args = [] } = {}) {
  const ownDir = dir === null;
  if (ownDir) dir = tempDir();
  if (config) fs.writeFileSync(path.join(dir, 'config.js.toml'), toml(config));
  const child = spawn(cmd || h.serverBinary(), args, {
    cwd: dir,
    env: cleanEnv({ RUST_LOG: 'warn', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const srv = {
    child, dir, url: null, port: null, exited: false, code: null, signal: null,
    stdout: () => stdout,
    stderr: () => stderr,
  };
  const watchers = [];
  const check = () => {
    for (const w of [...watchers]) {
      if (w.re.test(stderr)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  srv.exit = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      srv.exited = true; srv.code = code; srv.signal = signal;
      live.delete(child);
      resolve({ code, signal });
    });
  });
  srv.spawnError = new Promise((resolve) => child.on('error', resolve));
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; check(); });
  srv.ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /listening on (https?):\/\/([0-9.]+):(\d+)/.exec(stdout);
      if (m && !srv.url) {
        const host = m[2] === '0.0.0.0' ? '127.0.0.1' : m[2];
        srv.url = `${m[1]}://${host}:${m[3]}`;
        srv.port = Number(m[3]);
        resolve(srv.url);
      }
    });
    srv.exit.then(({ code, signal }) => reject(new Error(
      `server exited before listening (code ${code}, signal ${signal});\nstdout:\n${stdout}\nstderr:\n${stderr}`)));
    srv.spawnError.then((e) => reject(new Error(`cannot spawn: ${e.message}`)));
  });
  srv.ready.catch(() => {});
  // Resolves when stderr (cumulative) matches `re`, within `ms`.
  srv.waitStderr = (re, ms = 5000) => withTimeout(new Promise((resolve) => {
    watchers.push({ re, resolve });
    check();
  }), ms, `server stderr matching ${re}; stderr so far:\n${stderr.slice(-3000)}`);
  srv.waitReady = () => withTimeout(srv.ready, READY_TIMEOUT,
    `server banner "listening on"; stdout:\n${stdout}\nstderr:\n${stderr}`);
  // SIGTERM, SIGKILL after 3 s; removes the temp dir we made. Returns {code, signal}.
  srv.stop = async () => {
    if (!srv.exited) {
      child.kill('SIGTERM');
      let t;
      await Promise.race([srv.exit, new Promise((r) => { t = setTimeout(r, 3000); })]);
      clearTimeout(t);
      if (!srv.exited) {
        child.kill('SIGKILL');
        await srv.exit;
      }
    }
    if (ownDir) removeDir(dir);
    return { code: srv.code, signal: srv.signal };
  };
  return srv;
}

async function startServer(opts) {
  const srv = spawnServer(opts);
  try {
    await srv.waitReady();
  } catch (e) {
    await srv.stop();
    throw e;
  }
  return srv;
}

// GET over http(s) with a bound; resolves {status, headers, body}.
function get(url, { ca, timeout = 5000 } = {}) {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { ca, agent: false, timeout }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeout} ms`)));
    req.on('error', reject);
  });
}

// Resolves true when nothing accepts TCP connections on port (refused), false if something does.
function portClosed(port, timeout = 3000) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => { s.destroy(); reject(new Error('connect attempt hung')); }, timeout);
    s.on('connect', () => { clearTimeout(t); s.destroy(); resolve(false); });
    s.on('error', (e) => { clearTimeout(t); if (e.code === 'ECONNREFUSED') resolve(true); else reject(e); });
  });
}

// ---- certificates (openssl CLI) ----

function openssl(args, cwd) {
  return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

// A CA in dir: {key, cert} paths.
function makeCA(dir, name = 'ca') {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  openssl(['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '2',
    '-subj', `/CN=wrw test CA ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { key, cert };
}

// A server certificate for IP 127.0.0.1 signed by ca, in new files under dir.
// Returns {key, cert, keyPem, certPem, serial (BigInt), fingerprint256, cn}.
function makeServerCert(dir, ca, { cn, serial }) {
  const base = path.join(dir, `${cn}`);
  const ext = `${base}.ext`;
  fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' +
    'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-new', ...EC, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.cert, '-CAkey', ca.key,
    '-set_serial', `0x${serial.toString(16)}`, '-days', '2', '-out', `${base}.crt`, '-extfile', ext], dir);
  const fp = /Fingerprint=([0-9A-F:]+)/i.exec(openssl(['x509', '-in', `${base}.crt`, '-noout', '-fingerprint', '-sha256'], dir))[1];
  return {
    key: `${base}.key`,
    cert: `${base}.crt`,
    keyPem: fs.readFileSync(`${base}.key`),
    certPem: fs.readFileSync(`${base}.crt`),
    serial: BigInt(serial),
    fingerprint256: fp.toUpperCase(),
    cn,
  };
}

// Opens a new TLS connection (verification on, trusting only `ca`) and
// resolves with the certificate the server presented.
function peerCertificate(port, ca, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'] });
    const t = setTimeout(() => { s.destroy(); reject(new Error(`TLS handshake with :${port} not done within ${timeout} ms`)); }, timeout);
    s.once('secureConnect', () => {
      clearTimeout(t);
      const c = s.getPeerCertificate();
      s.destroy();
      resolve({ serial: BigInt(`0x${c.serialNumber}`), fingerprint256: c.fingerprint256, cn: c.subject && c.subject.CN });
    });
    s.once('error', (e) => { clearTimeout(t); s.destroy(); reject(e); });
  });
}

// Polls `fn` (async, returns truthy when done) until it is or `ms` pass.
// Resolves with the last value; rejects with `what` and the last value/error.
async function pollUntil(fn, { ms = 10000, every = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`not reached within ${ms} ms: ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last, (k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

// ---- socket.io clients ----

// Connects a client (`client`: '2.0.4' | '2.5.0' | '4'; `transport`: 'polling' |
// 'websocket' | 'both') with extra engine options (e.g. `ca`), no reconnection.
// Resolves with the socket, recorded by the harness (h.waitFor works on it).
function connect(url, { client = '4', transport = 'websocket', label = 'client', timeout = 10000, ...extra } = {}) {
  const mod = require(`sio-${client}`);
  const io = typeof mod === 'function' ? mod : (mod.io || mod.default);
  const opts = { forceNew: true, reconnection: false, timeout: 5000, ...extra };
  if (transport === 'polling') {
    opts.transports = ['polling'];
    opts.upgrade = false;
  } else if (transport === 'websocket') {
    opts.transports = ['websocket'];
  }
  const socket = io(url, opts);
  socket.__label = label;
  h.record(socket, { client, transport }, label);
  const rec = { disconnects: [] };
  socket.__deploy = rec;
  socket.on('disconnect', (reason) => rec.disconnects.push(reason));
  return new Promise((resolve, reject) => {
    let lastErr = null;
    const onErr = (e) => { lastErr = e; };
    const t = setTimeout(() => {
      socket.close();
      reject(new Error(`${label}: no connection within ${timeout} ms (${client}/${transport})${lastErr ? `: ${lastErr.message || lastErr}${lastErr.description ? ` (${lastErr.description.message || lastErr.description})` : ''}` : ''}`));
    }, timeout);
    socket.on('connect_error', onErr);
    socket.once('connect', () => {
      clearTimeout(t);
      socket.removeListener('connect_error', onErr);
      resolve(socket);
    });
  });
}

function close(...sockets) {
  for (const s of sockets.flat()) {
    try { s.close(); } catch (_) { /* ignore */ }
  }
}

// Emits `event` and resolves with the payload of the next `reply` event.
async function request(socket, event, payload, reply, timeout = 5000) {
  const since = socket.__rec.seq;
  socket.emit(event, payload);
  return h.waitFor(socket, reply, { since, timeout });
}

// ---- Twilio API stub ----

// A local HTTP server answering like Twilio's Tokens endpoint. `mode`:
// 'ok' (201 + token), 'fail' (500), 'hang' (never answers). `delayMs` delays
// the 'ok' answer. Records every call.
async function twilioStub({ ttl = '86400', mode = 'ok', delayMs = 0 } = {}) {
  const stub = {
    calls: [], inflight: 0, maxInflight: 0, ttl, mode, delayMs,
    iceServers: [
      { url: 'stun:global.stun.twilio.com:3478', urls: 'stun:global.stun.twilio.com:3478' },
      { url: 'turn:global.turn.twilio.com:3478?transport=udp', urls: 'turn:global.turn.twilio.com:3478?transport=udp', username: 'u', credential: 'c' },
      { url: 'turn:global.turn.twilio.com:443?transport=tcp', urls: 'turn:global.turn.twilio.com:443?transport=tcp', username: 'u', credential: 'c' },
    ],
  };
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      stub.calls.push({ method: req.method, url: req.url, headers: req.headers, body, at: Date.now() });
      if (stub.mode === 'hang') return;
      if (stub.mode === 'fail') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 20500, message: 'Internal Server Error', status: 500 }));
        return;
      }
      stub.inflight += 1;
      stub.maxInflight = Math.max(stub.maxInflight, stub.inflight);
      setTimeout(() => {
        stub.inflight -= 1;
        const now = new Date().toUTCString().replace('GMT', '+0000');
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          username: 'u',
          ice_servers: stub.iceServers,
          date_updated: now,
          account_sid: 'ACtest',
          ttl: stub.ttl,
          date_created: now,
          password: 'c',
        }));
      }, stub.delayMs);
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  stub.base = `http://127.0.0.1:${server.address().port}`;
  stub.close = () => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  return stub;
}

module.exports = {
  REPO, BASE_CONFIG, toml, cleanEnv, secrets, tempDir, removeDir, withTimeout,
  spawnServer, startServer, get, portClosed,
  makeCA, makeServerCert, peerCertificate, pollUntil,
  connect, close, request, twilioStub,
  PUBLIC_STUN: [
    'stun:stun.l.google.com:19302',
    'stun:stun1.l.google.com:19302',
    'stun:stun2.l.google.com:19302',
    'stun:stun3.l.google.com:19302',
    'stun:stun4.l.google.com:19302',
  ],
};
