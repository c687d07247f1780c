// Browser smoke test: the real server binary, headless Chromium, and the
// socket.io-client 2.0.4 browser bundle served from ANOTHER origin, so that
// every request the page makes to the server is cross-origin and goes through
// the browser's CORS checks (which Node clients never do).
//
// The same flow also runs with its two pages on two different nodes of a
// cluster (one redis-server, REDIS_URL on both nodes; ../clients/cluster/lib.js):
// everything page B sends page A reaches A through Redis.
//
// Run with `npm test` (node --test). Needs /usr/bin/chromium (Debian package
// `chromium`), /usr/bin/redis-server (Debian package `redis-server`) and the
// server binary (docs/PROTOCOL.md § Appendix: testing against the server).
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
// The one server spawner of the client suites (docs/PROTOCOL.md, appendix), and the
// cluster suites' redis-server and node launcher.
const h = require('../clients/harness.js');
const { startRedis } = require('../clients/redis.js');
const { startCluster } = require('../clients/cluster/lib.js');
const { launch, tail, serverOutput, recordPage } = require('./lib.js');

const WAIT_MS = 10_000; // bound of every single wait
const BUNDLE = require.resolve('socket.io-client/dist/socket.io.js');
const PAGE_DIR = path.join(__dirname, 'page');
const { ID_RE, withTimeout } = h;

// ---------------------------------------------------------------- the page's origin

async function startStaticServer() {
  const files = {
    '/': ['text/html; charset=utf-8', path.join(PAGE_DIR, 'index.html')],
    '/harness.js': ['application/javascript; charset=utf-8', path.join(PAGE_DIR, 'harness.js')],
    '/socket.io.js': ['application/javascript; charset=utf-8', BUNDLE],
  };
  const server = http.createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) {
      res.writeHead(req.url === '/favicon.ico' ? 204 : 404);
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': f[0], 'Cache-Control': 'no-store' });
    fs.createReadStream(f[1]).pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

// ---------------------------------------------------------------- browser pages

// A page plus everything it logged, for failure messages.
async function openPage(browser, label, pageUrl, serverUrl) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const log = recordPage(page, label, []);
  page.on('response', async (r) => {
    if (!r.url().startsWith(serverUrl)) return;
    let h = {};
    try { h = await r.allHeaders(); } catch { /* page gone */ }
    log.push(`[${label} response] ${r.status()} ${r.request().method()} ${r.url().slice(serverUrl.length)}` +
      ` ACAO=${h['access-control-allow-origin']} ACAC=${h['access-control-allow-credentials']}`);
  });
  const websockets = [];
  page.on('websocket', (ws) => {
    websockets.push(ws.url());
    log.push(`[${label} websocket] open ${ws.url()}`);
    ws.on('socketerror', (e) => log.push(`[${label} websocket] error ${e}`));
    ws.on('close', () => log.push(`[${label} websocket] closed ${ws.url()}`));
  });
  await withTimeout(page.goto(pageUrl), WAIT_MS, `${label}: load ${pageUrl}`);
  const hasIo = await page.evaluate(() => typeof window.io === 'function' && typeof window.harness === 'object');
  assert.ok(hasIo, `${label}: page did not load socket.io.js / harness.js`);

  // Call window.harness[method](...args) in the page; bounded on both sides.
  const call = (method, ...args) => withTimeout(
    page.evaluate(([m, a]) => window.harness[m](...a), [method, args]),
    WAIT_MS + 5_000, `${label}: harness.${method}`);
  return { label, page, context, log, websockets, call, close: () => context.close() };
}

// ---------------------------------------------------------------- the flow

// Page A connects to server `a` and creates a workspace, page B connects to
// server `b` (the same one, or another node of a cluster) and attends it, B
// negotiates with A. `a`, `b`: harness server handles; `connected` (optional):
// awaited once both pages are connected.
async function runFlow(browser, pageUrl, { a, b, opts, expectUpgrade, connected = null }) {
  const A = await openPage(browser, 'A', pageUrl, a.url);
  const B = await openPage(browser, 'B', pageUrl, b.url);
  let step = 'start';
  try {
    step = 'A connects';
    const connA = await A.call('connect', a.url, opts, WAIT_MS);
    if (!expectUpgrade) assert.equal(connA.transport, 'polling');

    step = 'A iceservers';
    const ice = await A.call('emitAndWait', 'iceservers', {}, 'iceservers', WAIT_MS);
    assert.ok(Array.isArray(ice) && ice.length > 0, `iceservers reply is not a non-empty array: ${JSON.stringify(ice)}`);

    step = 'A create';
    const created = await A.call('emitAndWait', 'create', {
      workspace: { name: 'Browser smoke', pin: '', avatar: 'ws-a.png' },
      attendee: { name: 'Alice', avatar: 'alice.png' },
      nonce: 'n-create',
    }, 'created', WAIT_MS);
    assert.match(created.workspace.id, ID_RE, 'created.workspace.id');
    assert.match(created.attendee.id, ID_RE, 'created.attendee.id');
    assert.equal(created.workspace.owner, created.attendee.id, 'created.workspace.owner');
    assert.equal(typeof created.workspace.token, 'string');
    assert.equal(typeof created.accessToken, 'string');
    assert.equal(created.nonce, 'n-create');
    const wsId = created.workspace.id;
    const aId = created.attendee.id;

    step = 'B connects';
    const connB = await B.call('connect', b.url, opts, WAIT_MS);
    if (!expectUpgrade) assert.equal(connB.transport, 'polling');
    if (connected) {
      step = 'both connected: check';
      await connected();
    }

    step = 'B attend';
    const granted = await B.call('emitAndWait', 'attend', {
      workspace: { token: created.workspace.token, pin: '' },
      attendee: { name: 'Bob', avatar: 'bob.png' },
      nonce: 'n-attend',
    }, 'attendance-granted', WAIT_MS);
    assert.equal(granted.workspace.id, wsId, 'attendance-granted.workspace.id');
    assert.match(granted.attendee.id, ID_RE, 'attendance-granted.attendee.id');
    assert.notEqual(granted.attendee.id, aId);
    assert.equal(typeof granted.accessToken, 'string');
    assert.equal(granted.nonce, 'n-attend');
    assert.deepEqual(Object.keys(granted.attendees).sort(), [aId, granted.attendee.id].sort(),
      'attendance-granted.attendees');
    const bId = granted.attendee.id;

    step = 'A gets the room\'s attend';
    const attended = await A.call('waitFor', 'attend', WAIT_MS);
    assert.equal(attended && attended.id, bId, `attend broadcast to A: ${JSON.stringify(attended)}`);

    if (expectUpgrade) {
      step = 'both engines upgrade to websocket';
      const [upA, upB] = await Promise.all([A.call('waitUpgrade', WAIT_MS), B.call('waitUpgrade', WAIT_MS)]);
      assert.equal(upA, 'websocket');
      assert.equal(upB, 'websocket');
      assert.equal(await A.call('transport'), 'websocket', 'A transport before negotiation');
      assert.equal(await B.call('transport'), 'websocket', 'B transport before negotiation');
      for (const p of [A, B]) {
        assert.ok(p.websockets.some((u) => /[?&]EIO=3\b/.test(u) && /[?&]transport=websocket\b/.test(u)),
          `${p.label}: no EIO=3 websocket seen: ${JSON.stringify(p.websockets)}`);
      }
    }

    step = 'B negotiation -> A';
    const message = { type: 'offer', data: { type: 'offer', sdp: 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' } };
    const gotP = A.call('waitFor', 'negotiation', WAIT_MS);
    await B.call('emit', 'negotiation', {
      workspace: { id: wsId },
      attendee: { id: aId },
      broadcaster: { id: bId },
      accessToken: granted.accessToken,
      message,
    });
    const got = await gotP;
    assert.deepEqual(got, { attendee: { id: bId }, message }, 'negotiation as received by A');

    step = 'final transports and stray events';
    const want = expectUpgrade ? 'websocket' : 'polling';
    assert.equal(await A.call('transport'), want, 'A transport after negotiation');
    assert.equal(await B.call('transport'), want, 'B transport after negotiation');
    if (!expectUpgrade) {
      for (const p of [A, B]) assert.deepEqual(p.websockets, [], `${p.label} opened a websocket with polling only`);
    }
    // Nothing unexpected (an alert to B for its negotiation, say) may be left over.
    assert.deepEqual(await A.call('unconsumed'), [], 'events A got but the test did not expect');
    assert.deepEqual(await B.call('unconsumed'), [], 'events B got but the test did not expect');
  } catch (err) {
    assert.fail([
      `step "${step}" failed: ${err && err.message}`,
      '--- browser log (console, page errors, server responses) ---',
      ...tail(A.log), ...tail(B.log),
      '--- server output ---',
      ...(a === b ? tail(serverOutput(a), 20) : [...tail(serverOutput(a, 'server A'), 20), ...tail(serverOutput(b, 'server B'), 20)]),
    ].join('\n'));
  } finally {
    await Promise.allSettled([A.call('close'), B.call('close')]);
    await Promise.allSettled([A.close(), B.close()]);
  }
}

// ---------------------------------------------------------------- the tests

describe('browser (Chromium, cross-origin page, socket.io-client 2.0.4)', { timeout: 120_000 }, () => {
  let server;
  let site;
  let browser;

  before(async () => {
    server = await h.startServer();
    site = await startStaticServer();
    assert.notEqual(new URL(site.url).origin, new URL(server.url).origin, 'page and server must be different origins');
    browser = await launch();
  });

  after(async () => {
    await Promise.allSettled([
      browser && browser.close(),
      site && site.stop(),
      server && server.stop(),
    ]);
  });

  it('polling only: create, attend, negotiation', async () => {
    await runFlow(browser, `${site.url}/`, {
      a: server, b: server, opts: { transports: ['polling'] }, expectUpgrade: false,
    });
  });

  it('default transports: polling then upgrade to websocket, then negotiation', async () => {
    await runFlow(browser, `${site.url}/`, { a: server, b: server, opts: {}, expectUpgrade: true });
  });

  describe('two cluster nodes (Redis)', () => {
    let redis;
    let cluster;

    before(async () => {
      redis = await startRedis({ aof: false });
      cluster = await startCluster({ nodes: 2, redis });
    });

    after(async () => {
      await Promise.allSettled([cluster && cluster.stop()]);
      await Promise.allSettled([redis && redis.stop()]);
    });

    it('page A on node 1, page B on node 2: polling then websocket, create, attend, negotiation', async () => {
      const [n1, n2] = cluster.nodes;
      const [h1, h2] = [await h.health(n1), await h.health(n2)];
      assert.ok(h1.cluster && h2.cluster, `both nodes in cluster mode: ${JSON.stringify([h1, h2])}`);
      assert.notEqual(h1.node_id, h2.node_id, 'two distinct nodes');
      await runFlow(browser, `${site.url}/`, {
        a: n1,
        b: n2,
        opts: {},
        expectUpgrade: true,
        // Each page is a socket of its own node (each node's own /health).
        connected: async () => {
          const counts = await Promise.all([n1, n2].map(async (n) => (await h.health(n)).sockets));
          assert.deepEqual(counts, [1, 1], '/health sockets of node 1 and node 2');
        },
      });
    });
  });
});
