'use strict';
// HTTPS (issue #3): the server serves TLS from [https] key/cert/ca when
// ENABLE_HTTPS=true; socket.io-client 2.0.4 and 4 connect over https polling
// and wss with verification on (trusting only the test CA); the certificate is
// reloaded on SIGHUP and when the files change on disk, without dropping live
// connections; bad files stop the start with a message naming the file.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const h = require('../harness.js');
const d = require('./lib.js');

// One CA and three server certificates for the whole file (openssl is slow-ish).
let pki;
test.before(() => {
  const dir = h.tempDir('wrw-pki-');
  const ca = d.makeCA(dir);
  pki = {
    dir,
    ca,
    caPem: fs.readFileSync(ca.cert),
    one: d.makeServerCert(dir, ca, { cn: 'wrw-server-one', serial: 0x1001n }),
    two: d.makeServerCert(dir, ca, { cn: 'wrw-server-two', serial: 0x2002n }),
    three: d.makeServerCert(dir, ca, { cn: 'wrw-server-three', serial: 0x3003n }),
  };
  assert.notEqual(pki.one.fingerprint256, pki.two.fingerprint256);
});
test.after(() => h.removeDir(pki.dir));

// Starts an HTTPS server whose [https] files are copies of `cert` in its own dir.
async function startHttps(t, cert, extraConfig = {}) {
  const dir = h.tempDir('wrw-deploy-');
  const files = {
    key: path.join(dir, 'server.key'),
    cert: path.join(dir, 'server.crt'),
    ca: path.join(dir, 'ca.crt'),
  };
  fs.writeFileSync(files.key, cert.keyPem);
  fs.writeFileSync(files.cert, cert.certPem);
  fs.writeFileSync(files.ca, pki.caPem);
  const srv = await h.startServer({ dir, config: extraConfig, https: files });
  t.after(async () => { await srv.stop(); h.removeDir(dir); });
  return { srv, files };
}

function sameCert(seen, cert) {
  return seen.fingerprint256 === cert.fingerprint256 && seen.serial === cert.serial;
}

async function createAndAttend(url, client, transport, ca) {
  const owner = await h.connect(url, { client, transport }, { ca, rejectUnauthorized: true, label: `owner ${client}/${transport}` });
  const guest = await h.connect(url, { client, transport }, { ca, rejectUnauthorized: true, label: `guest ${client}/${transport}` });
  try {
    const created = await h.reply(owner, 'create',
      { workspace: { name: 'tls room', pin: '4321' }, attendee: { name: 'Olive' }, nonce: 'n1' }, 'created');
    assert.equal(created.nonce, 'n1');
    assert.match(created.workspace.id, h.ID_RE);
    const since = owner.__rec.seq;
    const granted = await h.reply(guest, 'attend',
      { workspace: { token: created.workspace.token, pin: '4321' }, attendee: { name: 'Gus' }, nonce: 'n2' }, 'attendance-granted');
    assert.equal(granted.workspace.id, created.workspace.id);
    assert.equal(granted.nonce, 'n2');
    assert.deepEqual(Object.keys(granted.attendees).sort(), [created.attendee.id, granted.attendee.id].sort());
    const joined = await h.waitFor(owner, 'attend', { since });
    assert.equal(joined.id, granted.attendee.id);
    assert.equal(owner.io.engine.transport.name, transport);
  } finally {
    h.close(owner, guest);
  }
}

test('HTTPS: socket.io-client 2.0.4 and 4, polling and wss, verified against the test CA: create + attend', { timeout: 90000 }, async (t) => {
  const { srv } = await startHttps(t, pki.one);
  assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  // Verification is really on: without the CA the handshake is refused.
  await assert.rejects(d.peerCertificate(srv.port, undefined),
    (e) => /self[- ]signed|unable to (get|verify)|UNABLE_TO|SELF_SIGNED/i.test(`${e.code} ${e.message}`));
  const seen = await d.peerCertificate(srv.port, pki.caPem);
  assert.ok(sameCert(seen, pki.one), `served certificate is the configured one (saw CN ${seen.cn})`);

  const page = await h.get(`${srv.url}/`, { ca: pki.caPem });
  assert.equal(page.status, 200);

  for (const client of ['2.0.4', '4']) {
    for (const transport of ['polling', 'websocket']) {
      await t.test(`${client} over ${transport === 'polling' ? 'https polling' : 'wss'}`, async () => {
        await createAndAttend(srv.url, client, transport, pki.caPem);
      });
    }
  }
  // The library's own way: polling first, then upgrade to wss.
  await t.test('2.0.4 polling upgraded to wss', async () => {
    const s = await h.connect(srv.url, { client: '2.0.4', transport: 'both' }, { ca: pki.caPem, rejectUnauthorized: true });
    try {
      await h.poll(() => s.io.engine.transport.name === 'websocket', { timeout: 10000, what: 'upgrade to websocket' });
      const list = await h.reply(s, 'iceservers', {}, 'iceservers');
      assert.ok(Array.isArray(list));
    } finally {
      h.close(s);
    }
  });
});

test('HTTPS: SIGHUP reloads the certificate for new connections; live sockets stay connected', { timeout: 60000 }, async (t) => {
  // A long file-check period, so only the signal can explain a reload here.
  const { srv, files } = await startHttps(t, pki.one, { tls_reload_check_secs: 3600 });
  const v4 = await h.connect(srv.url, { client: '4', transport: 'websocket' }, { ca: pki.caPem, label: 'live v4 wss' });
  const v2 = await h.connect(srv.url, { client: '2.0.4', transport: 'websocket' }, { ca: pki.caPem, label: 'live 2.0.4 wss' });
  t.after(() => h.close(v4, v2));
  const created = await h.reply(v4, 'create', { workspace: { name: 'hup' }, attendee: { name: 'O' } }, 'created');
  const granted = await h.reply(v2, 'attend', { workspace: { token: created.workspace.token }, attendee: { name: 'G' } }, 'attendance-granted');
  assert.ok(sameCert(await d.peerCertificate(srv.port, pki.caPem), pki.one));

  fs.writeFileSync(files.cert, pki.two.certPem);
  fs.writeFileSync(files.key, pki.two.keyPem);
  // Without the signal (and with a one-hour file check) nothing changes yet.
  assert.ok(sameCert(await d.peerCertificate(srv.port, pki.caPem), pki.one),
    'the certificate must not change before SIGHUP (tls_reload_check_secs = 3600)');

  srv.child.kill('SIGHUP');
  const seen = await h.poll(async () => {
    const c = await d.peerCertificate(srv.port, pki.caPem);
    return sameCert(c, pki.two) && c;
  }, { timeout: 5000, every: 100, what: `new TLS connections see CN ${pki.two.cn} after SIGHUP` });
  assert.equal(seen.cn, pki.two.cn);
  assert.equal(srv.exited, false, 'SIGHUP must not stop the server');

  // The live sockets are still connected and still talk, to the server and to each other.
  for (const s of [v4, v2]) {
    const list = await h.reply(s, 'iceservers', {}, 'iceservers');
    assert.ok(Array.isArray(list));
    assert.equal(s.connected, true);
    assert.deepEqual(s.__disconnects, [], `${s.__label} got no disconnect`);
  }
  const since = v2.__rec.seq;
  v4.emit('mic-toggle', { workspace: { id: created.workspace.id }, attendee: { id: created.attendee.id }, state: false, accessToken: created.accessToken });
  const toggled = await h.waitFor(v2, 'mic-toggle', { since });
  assert.equal(toggled.attendee.id, created.attendee.id);
  assert.ok(granted.accessToken);

  // New socket.io clients connect with the new certificate.
  const fresh = await h.connect(srv.url, { client: '2.0.4', transport: 'polling' }, { ca: pki.caPem, label: 'new 2.0.4 polling' });
  t.after(() => h.close(fresh));
  assert.ok(Array.isArray(await h.reply(fresh, 'iceservers', {}, 'iceservers')));

  // A SIGHUP with unusable files keeps the current certificate and the server.
  // Whether the reload was tried shows only in the log: wait for the server to
  // log anything (RUST_LOG=warn: it logs nothing else here), whatever the wording.
  fs.writeFileSync(files.key, pki.one.keyPem); // does not match cert two
  const logged = srv.stderr().length;
  srv.child.kill('SIGHUP');
  await srv.waitStderr(/\S/, 5000, logged);
  assert.ok(sameCert(await d.peerCertificate(srv.port, pki.caPem), pki.two), 'a failed reload keeps the current certificate');
  assert.equal(srv.exited, false);
  assert.deepEqual([v4, v2].map((s) => s.__disconnects), [[], []]);
});

test('HTTPS: rewritten files are picked up without a signal (tls_reload_check_secs = 0.5)', { timeout: 60000 }, async (t) => {
  const { srv, files } = await startHttps(t, pki.one, { tls_reload_check_secs: 0.5 });
  const live = await h.connect(srv.url, { client: '4', transport: 'websocket' }, { ca: pki.caPem, label: 'live v4 wss' });
  t.after(() => h.close(live));
  assert.ok(sameCert(await d.peerCertificate(srv.port, pki.caPem), pki.one));

  // A broken file: logged, the current certificate stays.
  const logged = srv.stderr().length;
  fs.writeFileSync(files.cert, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
  await srv.waitStderr(/\S/, 5000, logged);
  assert.ok(sameCert(await d.peerCertificate(srv.port, pki.caPem), pki.one), 'an unusable file keeps the current certificate');

  fs.writeFileSync(files.cert, pki.three.certPem);
  fs.writeFileSync(files.key, pki.three.keyPem);
  const started = Date.now();
  const seen = await h.poll(async () => {
    const c = await d.peerCertificate(srv.port, pki.caPem);
    return sameCert(c, pki.three) && c;
  }, { timeout: 8000, every: 100, what: `new TLS connections see CN ${pki.three.cn} after the files were rewritten` });
  assert.equal(seen.cn, pki.three.cn);
  t.diagnostic(`rewritten certificate served after ${Date.now() - started} ms`);

  const list = await h.reply(live, 'iceservers', {}, 'iceservers');
  assert.ok(Array.isArray(list));
  assert.equal(live.connected, true);
  assert.deepEqual(live.__disconnects, []);
});

test('HTTPS startup errors name the file and exit non-zero', { timeout: 30000 }, async (t) => {
  const cases = [
    ['missing key file', (dir) => ({ key: path.join(dir, 'no-such.key'), cert: pki.one.cert, ca: pki.ca.cert }), 'no-such.key'],
    ['key of another certificate', () => ({ key: pki.two.key, cert: pki.one.cert, ca: pki.ca.cert }), pki.two.key],
    ['missing cert file', (dir) => ({ key: pki.one.key, cert: path.join(dir, 'no-such.crt') }), 'no-such.crt'],
  ];
  for (const [name, files, named] of cases) {
    await t.test(name, async () => {
      const dir = h.tempDir('wrw-deploy-');
      try {
        await h.expectRefusedStart({ dir, https: files(dir), rustLog: 'warn', mentions: named });
      } finally {
        h.removeDir(dir);
      }
    });
  }
});

// Sanity of the test's own tooling: the IP SAN is what verification checks.
test('test PKI: certificates are for IP 127.0.0.1 only', () => {
  const x = new (require('node:crypto').X509Certificate)(pki.one.certPem);
  assert.match(x.subjectAltName, /IP Address:127\.0\.0\.1/);
  assert.ok(x.checkIssued(new (require('node:crypto').X509Certificate)(pki.caPem)));
  assert.equal(tls.checkServerIdentity('localhost', { subjectaltname: x.subjectAltName, subject: { CN: pki.one.cn } }) instanceof Error, true);
});
