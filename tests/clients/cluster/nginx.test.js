'use strict';
// The shipped load-balancer recipe, tested for real: /usr/sbin/nginx runs
// deploy/nginx/nginx.conf (sticky: `hash $remote_addr consistent`) and
// deploy/nginx/websocket-only.conf (no stickiness) in front of two cluster
// nodes (one redis-server, REDIS_URL on both). The test changes nothing in
// those files but the `server` lines of `upstream wrw_nodes` (the two nodes)
// and the port of `listen` (a free one): the shipped files are what is tested.
//
// Stickiness is by client address, and every test client is on loopback: the
// clients here connect from different source addresses (127.0.0.2, .3, ...,
// through an http.Agent with `localAddress`, which engine.io-client 3 uses for
// its polling requests and for its WebSocket alike), and the test first asks
// nginx, from each candidate address, which node it hashes to (GET /health
// through nginx: `node_id`), so that the two attendees of one workspace land on
// two different nodes. Where each socket really landed is then read from each
// node directly (`sockets` of its own /health), not inferred.
//
// Without nginx installed (/usr/sbin/nginx, Debian package `nginx`) every test
// here is reported as skipped with the reason; it never passes silently.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const L = require('../harness.js');
const { PAYLOADS } = require('../events.js');
const { startRedis, freePort } = require('../redis.js');
const C = require('./lib.js');

const NGINX = process.env.WRW_NGINX || '/usr/sbin/nginx';
const DEPLOY = path.resolve(__dirname, '..', '..', '..', 'deploy', 'nginx');
const SHARED_CONF = 'wrw-server.conf';
const NO_NGINX = fs.existsSync(NGINX) ? null : `${NGINX} not found (apt-get install -y --no-install-recommends nginx)`;

// ---------------------------------------------------------------------------
// nginx from the shipped files.

// The shipped `confName` with `upstream wrw_nodes` pointing at `upstreams`
// (host:port each; the shipped parameters of its first `server` line kept)
// and, in wrw-server.conf, `listen` on 127.0.0.1:`port`. Throws when the
// files no longer have the shape the substitution relies on.
function renderConf(confName, upstreams, port) {
  const lines = fs.readFileSync(path.join(DEPLOY, confName), 'utf8').split('\n');
  const start = lines.findIndex((l) => /^\s*upstream\s+wrw_nodes\s*\{/.test(l));
  assert.ok(start >= 0, `${confName}: no "upstream wrw_nodes {"`);
  const end = lines.findIndex((l, i) => i > start && /^\s*\}/.test(l));
  assert.ok(end > start, `${confName}: upstream wrw_nodes is not closed`);
  const serverRe = /^(\s*server\s+)(\S+)(.*;\s*)$/;
  const servers = [];
  for (let i = start + 1; i < end; i++) if (serverRe.test(lines[i])) servers.push(i);
  assert.ok(servers.length >= 1, `${confName}: no server line in upstream wrw_nodes`);
  const [, lead, , rest] = serverRe.exec(lines[servers[0]]);
  const generated = upstreams.map((u) => `${lead}${u}${rest}`);
  const out = lines.flatMap((l, i) => {
    if (i === servers[0]) return generated;
    return servers.includes(i) ? [] : [l];
  });
  const main = out.join('\n');
  assert.match(main, new RegExp(`^\\s*include\\s+${SHARED_CONF.replace('.', '\\.')};`, 'm'), `${confName} includes ${SHARED_CONF}`);
  const shared = fs.readFileSync(path.join(DEPLOY, SHARED_CONF), 'utf8');
  const listenRe = /^(\s*)listen\s+\d+;/gm;
  assert.equal((shared.match(listenRe) || []).length, 1, `${SHARED_CONF}: exactly one "listen <port>;"`);
  return { main, shared: shared.replace(listenRe, `$1listen 127.0.0.1:${port};`) };
}

const liveNginx = new Set();
process.on('exit', () => {
  // SIGTERM, not SIGKILL: the master then stops its workers too.
  for (const c of liveNginx) {
    try { c.kill('SIGTERM'); } catch (_) { /* gone */ }
  }
});

// Starts nginx with the shipped `confName` in front of `upstreams`, in a temp
// prefix (pid, logs, temp paths inside it), on a free port; resolves once a
// GET /health through it reaches a node.
async function startNginx(confName, upstreams) {
  let lastErr;
  for (let attempt = 0; attempt < 5; attempt++) {
    const dir = L.tempDir('wrw-nginx-');
    // The workers (user nobody when the master is root) must reach tmp/.
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(path.join(dir, 'logs'));
    fs.mkdirSync(path.join(dir, 'tmp'));
    const port = await freePort();
    const conf = renderConf(confName, upstreams, port);
    const confFile = path.join(dir, confName);
    fs.writeFileSync(confFile, conf.main);
    fs.writeFileSync(path.join(dir, SHARED_CONF), conf.shared);
    const child = spawn(NGINX, ['-p', `${dir}/`, '-c', confFile, '-g', 'daemon off; error_log stderr;'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    liveNginx.add(child);
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-20000); });
    child.stdout.resume();
    let exited = null;
    const exit = new Promise((resolve) => child.on('exit', (code, signal) => {
      liveNginx.delete(child);
      exited = { code, signal };
      resolve(exited);
    }));
    const ng = {
      dir, port, url: `http://127.0.0.1:${port}`, child, stderr: () => stderr,
      async stop() {
        if (!exited) {
          child.kill('SIGTERM');
          await L.withTimeout(exit, 5000, `nginx pid ${child.pid} exiting on SIGTERM`).catch(async () => {
            child.kill('SIGKILL');
            await exit;
          });
        }
        L.removeDir(dir);
      },
    };
    try {
      await L.poll(async () => {
        if (exited) throw Object.assign(new Error(`nginx exited (${JSON.stringify(exited)}): ${stderr}`), { fatal: true });
        return (await L.get(`${ng.url}/health`, { timeout: 1000 })).status === 200;
      }, { timeout: 10000, every: 50, what: `nginx on :${port} proxying /health` });
      return ng;
    } catch (e) {
      lastErr = new Error(`${e.message}\nnginx stderr:\n${stderr.slice(-3000)}`);
      await ng.stop();
      // Another process took the port between the pick and the bind: try another one.
      if (!/Address already in use/.test(stderr)) break;
    }
  }
  throw lastErr;
}

// ---------------------------------------------------------------------------
// Clients from a chosen source address.

// An http.Agent whose connections come from `localAddress` and which records
// every request made through it ("GET /socket.io/?EIO=3&transport=polling...").
class SourceAgent extends http.Agent {
  constructor(localAddress) {
    super({ localAddress });
    this.localAddress = localAddress;
    this.requests = [];
  }

  addRequest(req, options) {
    this.requests.push(`${req.method} ${req.path}`);
    return super.addRequest(req, options);
  }
}

// The node_id of the node nginx sends requests from `addr` to.
async function nodeBehind(ng, addr) {
  const r = await L.get(`${ng.url}/health`, { agent: new http.Agent({ localAddress: addr }) });
  assert.equal(r.status, 200, `/health through nginx from ${addr}: ${r.status} ${r.body}`);
  return JSON.parse(r.body).node_id;
}

// Source addresses 127.0.0.2... grouped by the node nginx hashes them to:
// stops once every node has `perNode` of them. {node_id: [addr...]}.
async function addressesByNode(ng, nodeIds, perNode) {
  const by = Object.fromEntries(nodeIds.map((id) => [id, []]));
  for (let i = 2; i < 120 && nodeIds.some((id) => by[id].length < perNode); i++) {
    const addr = `127.0.0.${i}`;
    const id = await nodeBehind(ng, addr);
    assert.ok(id in by, `nginx sent ${addr} to ${id}, which is none of the nodes ${nodeIds.join(', ')}`);
    if (by[id].length < perNode) by[id].push(addr);
  }
  for (const id of nodeIds) assert.equal(by[id].length, perNode, `source addresses hashed to ${id}: ${JSON.stringify(by)}`);
  return by;
}

// Sockets connected to one node, as the node itself says (/health `sockets`).
const socketsOn = async (node) => (await L.health(node)).sockets;

// Polls until each node's socket count is what `want` says.
async function expectSockets(nodes, want, what) {
  await L.poll(async () => {
    const got = await Promise.all(nodes.map(socketsOn));
    return got.every((v, i) => v === want[i]) ? got : null;
  }, { timeout: 5000, what: `${what}: sockets per node (/health of each node) = ${JSON.stringify(want)}` });
}

// The engine's transport, once it has upgraded (bounded).
async function upgraded(socket) {
  await L.poll(() => socket.io.engine && socket.io.engine.transport && socket.io.engine.transport.name === 'websocket',
    { timeout: 10000, what: `${socket.__label}: engine upgraded to websocket` });
  return socket.io.engine.id;
}

// What went through the agent: a polling handshake, polling requests of the
// session, then the WebSocket of that same session (the upgrade).
function assertPollingThenUpgrade(agent, sid, label) {
  const reqs = agent.requests;
  const polling = reqs.filter((r) => /[?&]transport=polling\b/.test(r));
  const ws = reqs.filter((r) => /[?&]transport=websocket\b/.test(r));
  assert.ok(/[?&]EIO=3\b/.test(reqs[0] || '') && /[?&]transport=polling\b/.test(reqs[0]) && !/[?&]sid=/.test(reqs[0]),
    `${label}: the first request is a polling handshake: ${JSON.stringify(reqs)}`);
  assert.ok(polling.some((r) => r.includes(`sid=${sid}`)), `${label}: polling requests of session ${sid}: ${JSON.stringify(reqs)}`);
  assert.ok(ws.length === 1 && ws[0].startsWith('GET ') && ws[0].includes(`sid=${sid}`),
    `${label}: one WebSocket upgrade of session ${sid}: ${JSON.stringify(reqs)}`);
}

// Two attendees of one workspace (lib.js members), each on its own node, call
// each other: ring -> answer, then negotiation and icecandidate both ways;
// each reaches exactly its addressee, intact, and nothing else arrives.
async function callEachOther(a, b) {
  const all = [a, b];
  const ring = PAYLOADS.ring.build({ W: a.W, s: a, t: b });
  await C.relay(a, 'ring', { payload: ring, all,
    expected: [[b, { workspace: ring.workspace, caller: a.me, offer: ring.offer, call: ring.call, nonce: ring.nonce }]] });
  const answer = PAYLOADS.answer.build({ W: b.W, s: b, t: a });
  await C.relay(b, 'answer', { payload: answer, all,
    expected: [[a, { workspace: answer.workspace, callee: b.me, answer: answer.answer, call: answer.call, nonce: answer.nonce }]] });
  for (const [s, t] of [[a, b], [b, a]]) {
    const neg = await C.relay(s, 'negotiation', { to: t, all, expected: [[t, { attendee: { id: s.me.id }, message: PAYLOADS.negotiation.build({ W: s.W, s, t }).message }]] });
    assert.equal(neg.broadcaster.id, s.me.id);
    const ice = PAYLOADS.icecandidate.build({ W: s.W, s, t });
    await C.relay(s, 'icecandidate', { payload: ice, all,
      expected: [[t, { attendee: { id: t.me.id }, broadcaster: { id: s.me.id }, candidate: ice.candidate }]] });
  }
}

// ---------------------------------------------------------------------------

describe('nginx recipe (deploy/nginx) in front of two cluster nodes', { timeout: 120000 }, () => {
  let redis;
  let cluster;
  let nodes;
  let ids;
  const sockets = [];
  const conn = async (url, variant, opts) => {
    const s = await L.connect(url, variant, opts);
    sockets.push(s);
    return s;
  };

  before(async () => {
    if (NO_NGINX) return;
    redis = await startRedis({ aof: false });
    cluster = await C.startCluster({
      nodes: 2,
      redis,
      // nginx is the peer of every connection: believe its X-Forwarded-For
      // (the README's advice), and a small per-address limit to see it work.
      config: { trusted_proxies: ['127.0.0.1'], max_connections_per_ip: 2 },
    });
    nodes = cluster.nodes;
    ids = [];
    for (const n of nodes) {
      const hl = await L.health(n);
      assert.equal(hl.cluster, true, `node ${n.url} is in cluster mode: ${JSON.stringify(hl)}`);
      assert.equal(typeof hl.node_id, 'string');
      ids.push(hl.node_id);
    }
    assert.notEqual(ids[0], ids[1], 'two distinct node ids');
  });

  after(async () => {
    L.close(sockets);
    if (cluster) await cluster.stop();
    if (redis) await redis.stop();
  });

  // Every test leaves both nodes without sockets.
  afterEach(async () => {
    if (NO_NGINX) return;
    L.close(sockets.splice(0));
    await expectSockets(nodes, [0, 0], 'after closing every socket of the test');
  });

  describe('nginx.conf (sticky by client address)', () => {
    let ng;
    let by;
    before(async () => {
      if (NO_NGINX) return;
      ng = await startNginx('nginx.conf', nodes.map((n) => `127.0.0.1:${n.port}`));
      by = await addressesByNode(ng, ids, 2);
    });
    after(async () => {
      if (ng) await ng.stop();
    });

    it('a polling session stays on its node: every request of one address reaches the node that holds the session', async (t) => {
      if (NO_NGINX) return t.skip(`skipped: ${NO_NGINX}`);
      // A raw Engine.IO 3 polling handshake from an address of node 0, then
      // the session's next poll from the same address (sticky: 200) and from
      // an address of node 1 (that node does not know the session: 400).
      const hs = async (addr, q, body = null) => L.request(`${ng.url}/socket.io/?EIO=3&transport=polling${q}`,
        { method: body === null ? 'GET' : 'POST', body, agent: new http.Agent({ localAddress: addr }),
          headers: body === null ? {} : { 'Content-Type': 'text/plain;charset=UTF-8' } });
      const first = await hs(by[ids[0]][0], '');
      assert.equal(first.status, 200, `handshake: ${first.status} ${first.body}`);
      const sid = /"sid":"([^"]+)"/.exec(first.body);
      assert.ok(sid, `handshake names a sid: ${first.body}`);
      const same = await hs(by[ids[0]][1], `&sid=${sid[1]}`);
      assert.equal(same.status, 200, `poll of the session from another address hashed to the same node: ${same.status} ${same.body}`);
      const other = await hs(by[ids[1]][0], `&sid=${sid[1]}`);
      assert.equal(other.status, 400, `the other node does not know the session: ${other.status} ${other.body}`);
      // Close it (an Engine.IO 3 close packet, "1", in a polling POST) from the sticky address.
      const bye = await hs(by[ids[0]][0], `&sid=${sid[1]}`, '1:1');
      assert.equal(bye.status, 200, `close of the session: ${bye.status} ${bye.body}`);
      await expectSockets(nodes, [0, 0], 'the raw session closed');
    });

    it('socket.io-client 2 over polling then WebSocket through nginx: two attendees on two nodes ring, answer and negotiate', async (t) => {
      if (NO_NGINX) return t.skip(`skipped: ${NO_NGINX}`);
      await expectSockets(nodes, [0, 0], 'before');
      const agentA = new SourceAgent(by[ids[0]][0]);
      const agentB = new SourceAgent(by[ids[1]][0]);
      const both = (client) => ({ client, transport: 'both' });
      const A = await conn(ng.url, both('2.5.0'), { label: 'A (2.5.0)', agent: agentA });
      const sidA = await upgraded(A);
      await expectSockets(nodes, [1, 0], 'A connected through nginx from ' + agentA.localAddress);
      const B = await conn(ng.url, both('2.0.4'), { label: 'B (2.0.4)', agent: agentB });
      const sidB = await upgraded(B);
      await expectSockets(nodes, [1, 1], 'B connected through nginx from ' + agentB.localAddress);
      assertPollingThenUpgrade(agentA, sidA, 'A');
      assertPollingThenUpgrade(agentB, sidB, 'B');

      const created = await L.create(A, { name: 'behind nginx', attendee: 'alice' });
      const granted = await L.attendOk(B, created.workspace.token, '', 'bob');
      assert.equal(granted.workspace.id, created.workspace.id);
      assert.deepEqual(await L.waitFor(A, 'attend'), granted.attendee, 'the room on node 0 hears the attend on node 1');
      await callEachOther(C.member(A, created), C.member(B, granted));
      assert.deepEqual(L.takeViolations(), []);
      // Still one socket per node, still on WebSocket: nothing reconnected.
      await expectSockets(nodes, [1, 1], 'after the call');
      for (const s of [A, B]) {
        assert.equal(s.io.engine.transport.name, 'websocket', `${s.__label} transport`);
        assert.deepEqual(L.unexpectedDisconnects(s), [], `${s.__label} disconnects`);
      }
    });

    it('X-Forwarded-For from nginx: the per-address connection limit counts client addresses, not nginx', async (t) => {
      if (NO_NGINX) return t.skip(`skipped: ${NO_NGINX}`);
      // Two addresses that nginx sends to node 0; max_connections_per_ip = 2.
      const [a1, a2] = by[ids[0]];
      const viaWs = { client: '2.5.0', transport: 'websocket' };
      const from = (addr, label) => ({ label, agent: new http.Agent({ localAddress: addr }) });
      await conn(ng.url, viaWs, from(a1, `${a1} #1`));
      await conn(ng.url, viaWs, from(a1, `${a1} #2`));
      const err = await conn(ng.url, viaWs, from(a1, `${a1} #3`)).then(() => null, (e) => e);
      assert.ok(err && String(err.connectError).includes(L.TEXT.TOO_MANY_CONNECTIONS),
        `the 3rd connection from ${a1} is refused with TOO_MANY_CONNECTIONS, got: ${err && err.message}`);
      // Same node, same peer (nginx, 127.0.0.1), another client address: accepted.
      const other = await conn(ng.url, viaWs, from(a2, `${a2} #1`));
      assert.equal((await L.ask(other, 'iceservers', {})).event, 'iceservers');
      await expectSockets(nodes, [3, 0], 'three sockets, all on node 0');
    });
  });

  describe('websocket-only.conf (no stickiness)', () => {
    let ng;
    before(async () => {
      if (NO_NGINX) return;
      ng = await startNginx('websocket-only.conf', nodes.map((n) => `127.0.0.1:${n.port}`));
    });
    after(async () => {
      if (ng) await ng.stop();
    });

    it("transports: ['websocket'] clients from one address are spread over both nodes and still reach each other", async (t) => {
      if (NO_NGINX) return t.skip(`skipped: ${NO_NGINX}`);
      await expectSockets(nodes, [0, 0], 'before');
      // least_conn (state shared by the workers through the upstream's zone):
      // the second WebSocket goes to the node without one.
      const ws = { client: '2.5.0', transport: 'websocket' };
      const A = await conn(ng.url, ws, { label: 'A (websocket)' });
      await L.poll(async () => (await Promise.all(nodes.map(socketsOn))).reduce((x, y) => x + y) === 1,
        { timeout: 5000, what: 'A on one of the nodes' });
      const B = await conn(ng.url, ws, { label: 'B (websocket)' });
      await expectSockets(nodes, [1, 1], 'A and B (same source address) on two different nodes');
      const created = await L.create(A, { name: 'ws only', attendee: 'alice' });
      const granted = await L.attendOk(B, created.workspace.token, '', 'bob');
      assert.deepEqual(await L.waitFor(A, 'attend'), granted.attendee);
      await callEachOther(C.member(A, created), C.member(B, granted));
      assert.deepEqual(L.takeViolations(), []);
    });
  });
});
