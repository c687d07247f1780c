'use strict';
// deploy/compose.yaml brought up with podman-compose as shipped (copied with
// deploy/compose/ and deploy/nginx/ into a temp project directory beside a
// generated .env; the images: the one the Dockerfile builds, and stand-ins for
// Redis and nginx made from Debian's packages, stand-ins.sh): three nodes on
// one Redis behind nginx. Through nginx a socket.io 2 client creates a
// workspace and another attends it from a client address that nginx hashes
// to another node, and they relay; one node is stopped (exit 0, its client
// dropped, nginx sends its addresses elsewhere); `down` removes everything.
//
// The shipped recipe uses fixed ports on the host network (nodes 3001-3003,
// nginx 8080, Redis 6379): the test fails, saying so, when one is taken.
// Where podman or podman-compose cannot run, it reports itself skipped with the reason.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const L = require('../harness.js');
const C = require('../cluster/lib.js');
const D = require('../deploy/lib.js');
const E = require('../events.js');
const K = require('./lib.js');

const SKIP = K.whyNot(['podman-compose']);
const NGINX = 'http://127.0.0.1:8080';
const NODE_PORTS = [3001, 3002, 3003];
const PORTS = [...NODE_PORTS, 8080, 6379];

// The shipped compose project in a temp dir with its own .env (every secret).
function project() {
  const dir = L.tempDir('wrw-compose-');
  fs.chmodSync(dir, 0o755);
  const deploy = path.join(K.REPO, 'deploy');
  fs.copyFileSync(path.join(deploy, 'compose.yaml'), path.join(dir, 'compose.yaml'));
  for (const sub of ['compose', 'nginx']) fs.cpSync(path.join(deploy, sub), path.join(dir, sub), { recursive: true });
  const hex = () => crypto.randomBytes(32).toString('hex');
  fs.writeFileSync(path.join(dir, '.env'), [
    `MAGICK_TOKEN=${hex()}`, `SALT_STRING=${hex()}`, `REDIS_PASSWORD=${hex()}`, 'DEVELOPMENT=false', '',
  ].join('\n'));
  const name = `wrwtest${crypto.randomBytes(3).toString('hex')}`;
  const env = { ...process.env, WRW_IMAGE: K.IMAGE, WRW_REDIS_IMAGE: K.REDIS_IMAGE, WRW_NGINX_IMAGE: K.NGINX_IMAGE };
  // --podman-path: the shipped shim for podman-compose 1.0.3 and network_mode: host.
  const compose = (...args) => K.sh('podman-compose', ['--podman-path', path.join(dir, 'compose', 'podman-hostnet'),
    '-p', name, '-f', path.join(dir, 'compose.yaml'), ...args], { cwd: dir, env, timeout: 180000 });
  // podman-compose 1.0.3 makes <project>_default (unused: host network) and `down` leaves it.
  const removeNetwork = () => K.podman(['network', 'rm', '-f', `${name}_default`], { ok: [0, 1, 2, 125] });
  return { dir, name, compose, removeNetwork };
}

// The node_id nginx sends requests from `addr` to.
async function nodeBehind(addr) {
  const r = await L.get(`${NGINX}/health`, { agent: new http.Agent({ localAddress: addr }) });
  assert.equal(r.status, 200, `/health through nginx from ${addr}: ${r.status} ${r.body}`);
  return JSON.parse(r.body).node_id;
}

describe('deploy/compose.yaml: three nodes, Redis, nginx (podman-compose)', { timeout: 75 * 60000 }, () => {
  let p = null;
  after(async () => {
    if (p) {
      await p.compose('down', '-v').catch(() => {});
      await p.removeNetwork();
      L.removeDir(p.dir);
    }
  });

  it('up; create, attend on another node and relay through nginx; one node stopped; down removes everything', { timeout: 70 * 60000 }, async (t) => {
    if (SKIP) return t.skip(`skipped: ${SKIP}`);
    for (const port of PORTS) assert.ok(await D.portClosed(port), `port ${port} (of the shipped recipe) is free on this host`);
    // The first container test to run builds the image (cold on a new machine: the CI log shows how long).
    const built = await K.buildImage();
    t.diagnostic(`podman build of the Dockerfile: ${(built.ms / 1000).toFixed(0)} s`);
    await K.standIns('redis', 'nginx');
    p = project();
    const up = await p.compose('up', '-d');
    t.diagnostic(`podman-compose up: ${up.ms} ms`);

    // Every node in cluster mode on the one Redis, each with its own id; nginx proxies.
    const nodes = NODE_PORTS.map((port) => ({ url: `http://127.0.0.1:${port}`, port }));
    const ids = [];
    for (const n of nodes) {
      const h = await L.poll(async () => {
        const r = await C.healthOf(n, 1000);
        return r.status === 200 && r.body.cluster === true && r.body.redis && r.body.redis.reachable ? r.body : null;
      }, { timeout: 60000, what: `node :${n.port} healthy in cluster mode` });
      n.id = h.node_id;
      ids.push(h.node_id);
    }
    assert.equal(new Set(ids).size, 3, `three node ids: ${ids}`);
    await L.poll(async () => (await L.get(`${NGINX}/health`, { timeout: 1000 })).status === 200, { timeout: 30000, what: 'nginx proxying /health' });

    // Client addresses that nginx hashes to two different nodes.
    const byNode = {};
    for (let i = 2; i < 60 && Object.keys(byNode).length < 2; i++) {
      const addr = `127.0.0.${i}`;
      const id = await nodeBehind(addr);
      assert.ok(ids.includes(id), `nginx sent ${addr} to ${id}, one of ${ids}`);
      byNode[id] = byNode[id] || addr;
    }
    const [idA, idB] = Object.keys(byNode);
    assert.ok(idB, `two nodes behind nginx: ${JSON.stringify(byNode)}`);
    const via = (id, label) => ({ label, agent: new http.Agent({ localAddress: byNode[id] }) });

    const sockets = [];
    // The cluster helpers' connector: every client through nginx, from the address of its node.
    const landing = { alice: idA, bob: idB };
    const T = {
      async conn(_srv, variant, label) {
        const s = await L.connect(NGINX, variant, via(landing[label], label));
        sockets.push(s);
        return s;
      },
    };
    try {
      const both = { client: '2.5.0', transport: 'both' };
      const alice = await C.createOn(T, null, both, { label: 'alice', name: 'composed', attendee: 'alice' });
      const bob = await C.attendOn(T, null, { client: '2.0.4', transport: 'polling' }, alice.W, { name: 'bob', others: [alice] });
      // Each landed where nginx's hash said (the nodes' own socket counts).
      const sockets0 = await Promise.all(nodes.map(async (n) => (await L.health(n)).sockets));
      assert.deepEqual(sockets0, nodes.map((n) => (n.id === idA ? 1 : 0) + (n.id === idB ? 1 : 0)), `sockets per node (${ids})`);
      const message = E.PAYLOADS.negotiation.build({ W: alice.W, s: alice, t: bob }).message;
      await C.relay(alice, 'negotiation', { to: bob, all: [alice, bob], expected: [[bob, { attendee: { id: alice.me.id }, message }]] });

      // Stop bob's node: exit 0 (SIGTERM drain), bob dropped, the others serve on.
      const nodeB = nodes.find((n) => n.id === idB);
      const service = `node${NODE_PORTS.indexOf(nodeB.port) + 1}`;
      const stop = await p.compose('stop', service);
      t.diagnostic(`podman-compose stop ${service}: ${stop.ms} ms`);
      const code = (await K.podman(['inspect', `${p.name}_${service}_1`, '--format', '{{.State.ExitCode}}'])).stdout.trim();
      assert.equal(code, '0', `${service} exits 0 on SIGTERM`);
      await L.withTimeout(bob.sock.__disconnected, 10000, 'bob is disconnected by the stop');
      assert.ok(await D.portClosed(nodeB.port), `${service} no longer listens`);
      const moved = await nodeBehind(byNode[idB]);
      assert.ok(moved !== idB && ids.includes(moved), `nginx sends ${byNode[idB]} to a live node now (${moved})`);
      assert.equal((await L.ask(alice.sock, 'iceservers', {})).event, 'iceservers', 'alice is still served');
    } finally {
      L.close(sockets);
    }

    const down = await p.compose('down', '-v');
    t.diagnostic(`podman-compose down: ${down.ms} ms`);
    const left = (await K.podman(['ps', '-a', '--filter', `label=io.podman.compose.project=${p.name}`, '--format', '{{.Names}}'])).stdout.trim();
    assert.equal(left, '', 'no container of the project is left');
    const vols = (await K.podman(['volume', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter((v) => v.startsWith(p.name));
    assert.deepEqual(vols, [], 'no volume of the project is left');
    for (const port of PORTS) assert.ok(await D.portClosed(port), `port ${port} is free again`);
    await p.removeNetwork();
    L.removeDir(p.dir);
    p = null;
  });
});
