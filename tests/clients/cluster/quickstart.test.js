'use strict';
// The README's cluster quick start ("Three nodes behind nginx"), run as
// written: the two ```sh blocks between <!-- cluster-quickstart --> and
// <!-- /cluster-quickstart --> (start, then stop) are taken from README.md and
// run with bash, changed in two mechanical ways only:
//   - the ports 6379 (Redis), 3001..3003 (the nodes) and 8080 (nginx) become
//     free ones wherever they occur as numbers, and the shipped nginx files get
//     the same change in their `server 127.0.0.1:300N` lines and `listen 8080;`;
//   - /tmp/wrw (the quick start's one directory) becomes a temp directory, so
//     that the test never touches /tmp/wrw.
// bash runs in a temp directory laid out like the repository (deploy/nginx/
// with the three nginx files, target/release/webrtc-workspaces-server a
// symlink to the binary under test, $WRW_BIN when set), with /usr/sbin on
// PATH, in a process group of its own: everything the block starts in the
// background stays in that group and is killed with it at the end, pass or
// fail (plus whatever the pid files name, should something daemonize).
// Then: /health through nginx, a workspace created with socket.io-client 2
// directly on the first node, attended through nginx from a source address
// that nginx sends to another node (so the attend crosses Redis), the owner
// sees the `attend`; the stop block must then end every process.
//
// Without redis-server, redis-cli, nginx (/usr/sbin), openssl or curl the test
// is reported as skipped with the reason; it never passes silently.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const L = require('../harness.js');
const R = require('../readme-blocks.js');

const DEPLOY = path.join(R.ROOT, 'deploy', 'nginx');
const NGINX_FILES = ['nginx.conf', 'websocket-only.conf', 'wrw-server.conf'];
const PORTS = ['6379', '3001', '3002', '3003', '8080']; // Redis, the three nodes, nginx
const QUICK_DIR = '/tmp/wrw';
const NO_TOOLS = R.missingTools(['bash', 'redis-server', 'redis-cli', 'nginx', 'openssl', 'curl'], 'redis-server nginx openssl curl');

// The shipped nginx file `name` with its node ports and listen port changed
// like the block's; throws when the shapes the change relies on are gone.
function nginxFile(name, map) {
  let text = fs.readFileSync(path.join(DEPLOY, name), 'utf8');
  if (name === 'wrw-server.conf') {
    const re = /^(\s*listen\s+)8080;/gm;
    assert.equal((text.match(re) || []).length, 1, `${name}: one "listen 8080;"`);
    return text.replace(re, `$1${map['8080']};`);
  }
  const re = /^(\s*server\s+127\.0\.0\.1:)(300[1-3])\b/gm;
  const found = [...text.matchAll(re)].map((m) => m[2]).sort();
  assert.deepEqual(found, ['3001', '3002', '3003'], `${name}: the server lines of upstream wrw_nodes`);
  text = text.replace(re, (_, lead, port) => `${lead}${map[port]}`);
  return text;
}

// Pids named by the pid files the quick start writes (its list, nginx's).
function pidsFrom(wrw) {
  const pids = [];
  for (const f of [path.join(wrw, 'pids'), path.join(wrw, 'nginx', 'nginx.pid'), path.join(wrw, 'redis', 'redis.pid')]) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch (_) { continue; }
    for (const w of text.split(/\s+/)) if (/^\d+$/.test(w)) pids.push(Number(w));
  }
  return pids;
}

// The logs the quick start writes, for a failure message.
function logs(root, wrw) {
  const files = [path.join(root, 'bash.log'), path.join(wrw, 'redis', 'redis.log'),
    path.join(wrw, 'nginx', 'logs', 'error.log')];
  for (let i = 1; i <= 3; i++) files.push(path.join(wrw, `node${i}`, 'server.log'));
  return R.tails(files);
}

// ---------------------------------------------------------------------------

describe('README cluster quick start, pasted into bash', { timeout: 240000 }, () => {
  it('starts Redis, three nodes and nginx; a create on node 1 and an attend through nginx; the stop block ends it all', async (t) => {
    if (NO_TOOLS) return t.skip(`skipped: ${NO_TOOLS}`);
    const [startBlock, stopBlock] = R.readmeBlocks('cluster-quickstart', 2);
    const blocks = { start: startBlock, stop: stopBlock };
    for (const p of PORTS) assert.match(blocks.start, R.wordRe(p), `the start block names port ${p}`);
    assert.match(blocks.start, /\/tmp\/wrw(?![\w.-])/, `the start block works in ${QUICK_DIR}`);

    const map = await R.freePortMap(PORTS);
    t.diagnostic(`ports ${JSON.stringify(map)}`);

    // The temp "repository" and the quick start's directory, side by side.
    const root = L.tempDir('wrw-quickstart-');
    fs.chmodSync(root, 0o755); // nginx's workers (nobody, under a root master) reach its tmp/
    const repo = R.fakeRepo(root, Object.fromEntries(NGINX_FILES.map((f) => [`deploy/nginx/${f}`, nginxFile(f, map)])));
    const wrw = path.join(root, 'wrw');
    const start = R.withDir(R.withPorts(blocks.start, map), QUICK_DIR, wrw, 'start block');
    const stop = R.withDir(R.withPorts(blocks.stop, map), QUICK_DIR, wrw, 'stop block');
    const log = path.join(root, 'bash.log');
    const env = L.serverEnv({ PATH: R.PATH_WITH_SBIN, REDIS_URL: undefined, WRW: undefined, BIN: undefined });

    const ran = R.runBash(start, { cwd: repo, env, log, timeout: 120000, what: 'the start block' });
    const sockets = [];
    try {
      const done = await ran.exit;
      const out = fs.readFileSync(log, 'utf8');
      assert.equal(done.code, 0, `the start block exits 0: ${JSON.stringify(done)}`);
      assert.match(out, /"status":"ok"/, 'the block\'s last curl shows /health through nginx');

      const nginxUrl = `http://127.0.0.1:${map['8080']}`;
      await L.poll(async () => (await L.get(`${nginxUrl}/health`, { timeout: 1000 }).catch(() => ({}))).status === 200,
        { timeout: 15000, what: `GET ${nginxUrl}/health answering 200` });
      const nodes = [];
      for (const [i, p] of ['3001', '3002', '3003'].entries()) {
        const url = `http://127.0.0.1:${map[p]}`;
        const h = await L.health({ url }).catch((e) => { throw new Error(`/health of node ${i + 1} on :${map[p]}: ${e.message}`); });
        assert.equal(h.node_id, `node-${i + 1}`, `node ${i + 1} on :${map[p]}: ${JSON.stringify(h)}`);
        assert.equal(h.cluster, true, `node ${i + 1} in cluster mode: ${JSON.stringify(h)}`);
        nodes.push({ url, id: h.node_id });
      }

      // A source address that nginx sends to another node than node 1.
      let addr = null;
      let behind = null;
      for (let i = 2; i < 64 && !addr; i++) {
        const a = `127.0.0.${i}`;
        const r = await L.get(`${nginxUrl}/health`, { agent: new http.Agent({ localAddress: a }) });
        assert.equal(r.status, 200, `/health through nginx from ${a}: ${r.status} ${r.body}`);
        const id = JSON.parse(r.body).node_id;
        if (id !== 'node-1') [addr, behind] = [a, id];
      }
      assert.ok(addr, 'a source address 127.0.0.x that nginx sends to node-2 or node-3');

      const owner = await L.connect(nodes[0].url, L.V2_WS, 'owner (2.5.0, node 1 directly)');
      sockets.push(owner);
      const created = await L.create(owner, { name: 'quick start', attendee: 'alice' });
      const guest = await L.connect(nginxUrl, { client: '2.0.4', transport: 'both' },
        { label: `guest (2.0.4 through nginx from ${addr})`, agent: new http.Agent({ localAddress: addr }) });
      sockets.push(guest);
      const granted = await L.attendOk(guest, created.workspace.token, '', 'bob');
      assert.equal(granted.workspace.id, created.workspace.id);
      assert.deepEqual(await L.waitFor(owner, 'attend'), granted.attendee, 'the owner on node-1 sees the attend');
      const on = await Promise.all(nodes.map(async (n) => (await L.health(n)).sockets));
      assert.deepEqual(on, nodes.map((n) => (n.id === 'node-1' || n.id === behind ? 1 : 0)),
        `one socket on node-1 (the owner), one on ${behind} (the guest): ${JSON.stringify(on)}`);
      assert.deepEqual(L.takeViolations(), []);
      L.close(sockets.splice(0));

      // The stop block ends every process the start block left running.
      const pids = pidsFrom(wrw);
      assert.ok(pids.length >= 5, `${wrw}/pids lists Redis, the nodes and nginx: ${pids}`);
      const stopped = R.runBash(stop, { cwd: repo, env, log, timeout: 20000, what: 'the stop block' });
      assert.equal((await stopped.exit).code, 0, 'the stop block exits 0');
      await R.killAll(stopped.pgid); // it starts nothing in the background; just in case
      await L.poll(() => R.liveIn(ran.pgid, pids).length === 0,
        { timeout: 20000, what: `every process of the quick start gone after the stop block (left: ${JSON.stringify(R.liveIn(ran.pgid, pids))})` });
    } catch (e) {
      e.message += `\n${logs(root, wrw)}`;
      throw e;
    } finally {
      L.close(sockets);
      await R.killAll(ran.pgid, pidsFrom(wrw));
      L.removeDir(root);
    }
  });
});
