'use strict';
// Helpers for the deployment end-to-end tests (issue #3): make certificates
// with the openssl CLI, read the certificate a new TLS connection sees, check
// that a port is closed, and run a Twilio API stub. Spawning, clients, HTTP
// and waits are the harness's.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');

const REPO = path.resolve(__dirname, '..', '..', '..');

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
  REPO, portClosed, makeCA, makeServerCert, peerCertificate, twilioStub,
  PUBLIC_STUN: [
    'stun:stun.l.google.com:19302',
    'stun:stun1.l.google.com:19302',
    'stun:stun2.l.google.com:19302',
    'stun:stun3.l.google.com:19302',
    'stun:stun4.l.google.com:19302',
  ],
};
