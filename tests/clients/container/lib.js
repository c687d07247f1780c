'use strict';
// Helpers for the container tests (issue #13): podman as these machines run
// it (containers.conf beside this file, through CONTAINERS_CONF), the local
// stand-ins for the base images (stand-ins.sh, built once per machine), the
// project's Dockerfile built as a user builds it, and containers run with
// their cleanup. Clients, waits and HTTP are the harness's.

const { execFile, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const L = require('../harness.js');

const REPO = path.resolve(__dirname, '..', '..', '..');
const CONTAINERS_CONF = path.join(__dirname, 'containers.conf');
process.env.CONTAINERS_CONF = CONTAINERS_CONF;
const RUNC = '/usr/sbin/runc';
// The image the tests build from the project's Dockerfile.
const IMAGE = process.env.WRW_TEST_IMAGE || 'localhost/wrw-test/server:latest';
// The stand-ins compose.yaml is pointed at (stand-ins.sh).
const REDIS_IMAGE = 'localhost/wrw-stand-in/redis:7';
const NGINX_IMAGE = 'localhost/wrw-stand-in/nginx:1';

// On PATH, or in /usr/sbin (debootstrap's place, which a non-root PATH may lack).
const onPath = (cmd) => [...(process.env.PATH || '').split(':'), '/usr/sbin'].some((d) => d && fs.existsSync(path.join(d, cmd)));

// Why podman cannot run here (each test then reports itself skipped with
// it), or null. `also`: further commands the test needs.
function whyNot(also = []) {
  for (const cmd of ['podman', 'debootstrap', ...also]) {
    if (!onPath(cmd)) return `${cmd} not found (apt-get install -y --no-install-recommends podman runc debootstrap podman-compose)`;
  }
  if (!fs.existsSync(RUNC)) return `${RUNC} not found (apt-get install -y runc)`;
  if (process.getuid && process.getuid() !== 0) return 'not root (the tests run rootful podman: debootstrap and the host network need root)';
  try {
    execFileSync('podman', ['info'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
  } catch (e) {
    return `podman info fails: ${String(e.stderr || e.message).trim().slice(0, 300)}`;
  }
  return null;
}

// Runs `cmd args`; resolves {stdout, stderr, code, ms}; rejects on a non-zero
// exit (unless `ok` lists the code) or after `timeout` ms.
function sh(cmd, args, { timeout = 120000, ok = [0], cwd = REPO, env = process.env, input } = {}) {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { cwd, env, timeout, maxBuffer: 256 << 20, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      const r = { stdout: String(stdout), stderr: String(stderr), code, ms: Date.now() - t0 };
      if (ok.includes(code)) return resolve(r);
      const why = err && err.killed ? `killed after ${timeout} ms` : `exit ${code}`;
      return reject(new Error(`${cmd} ${args.join(' ')}: ${why}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`));
    });
    if (input !== undefined) child.stdin.end(input);
  });
}
const podman = (args, opts) => sh('podman', args, opts);

// The stand-ins (stand-ins.sh names), built when missing.
async function standIns(...names) {
  return sh(path.join(__dirname, 'stand-ins.sh'), names, { timeout: 30 * 60000 });
}

// `podman build` of the project's Dockerfile, as README "Container image"
// has it (docker format: OCI images drop HEALTHCHECK). `context`: the build
// context (default the repository). Resolves {ms, log}.
async function buildImage({ tag = IMAGE, context = REPO } = {}) {
  await standIns('debian', 'rust');
  const r = await podman(['build', '--network', 'host', '--format', 'docker', '-t', tag, context], { timeout: 60 * 60000 });
  return { ms: r.ms, log: r.stdout + r.stderr };
}

// `podman image inspect` of one image.
async function inspectImage(tag = IMAGE) {
  return JSON.parse((await podman(['image', 'inspect', tag])).stdout)[0];
}

const mine = new Set(); // containers and volumes to remove at exit
process.on('exit', () => {
  for (const [kind, name] of mine) {
    try {
      execFileSync('podman', kind === 'volume' ? ['volume', 'rm', '-f', name] : ['rm', '-f', '-t', '0', name], { stdio: 'ignore', timeout: 30000 });
    } catch (_) { /* gone */ }
  }
});
const unique = (what) => `wrw-test-${what}-${crypto.randomBytes(3).toString('hex')}`;

async function volume(label = 'data') {
  const name = unique(label);
  await podman(['volume', 'create', name]);
  const entry = ['volume', name];
  mine.add(entry);
  return {
    name,
    async mountpoint() { return (await podman(['volume', 'inspect', name, '--format', '{{.Mountpoint}}'])).stdout.trim(); },
    async remove() { await podman(['volume', 'rm', '-f', name]); mine.delete(entry); },
  };
}

// Runs the image detached (host network: `env.PORT` is a host port) with
// `env`, `args` (podman run options before the image, e.g. --read-only, -v),
// resolving once GET /health answers 200 (over https when `https`). The
// handle: {name, url, stop(seconds) -> {code, ms}, start(), exec(...), logs(), remove()}.
async function runImage({ env = {}, args = [], image = IMAGE, https = false, ca } = {}) {
  const port = env.PORT || String(await require('../redis.js').freePort());
  const name = unique('node');
  const envArgs = Object.entries({ ...env, PORT: port }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const entry = ['container', name];
  mine.add(entry);
  await podman(['run', '-d', '--name', name, ...envArgs, ...args, image]);
  const c = {
    name,
    port: Number(port),
    url: `${https ? 'https' : 'http'}://127.0.0.1:${port}`,
    logs: async () => { const r = await podman(['logs', name]); return r.stdout + r.stderr; },
    exec: (...cmd) => podman(['exec', name, ...cmd], { ok: [0, 1, 2, 125, 126, 127] }),
    state: async () => JSON.parse((await podman(['inspect', name, '--format', '{{json .State}}'])).stdout),
    // Resolves once /health answers 200 (fails early if the container exited).
    async ready() {
      let exited = null;
      await L.poll(async () => {
        const s = await c.state();
        if (!s.Running) exited = s;
        return exited || (await L.get(`${c.url}/health`, { ca, timeout: 1000 })).status === 200;
      }, { timeout: 30000, every: 100, what: `${name} serving /health on :${port}` }).catch(async (e) => {
        throw new Error(`${e.message}\nlogs:\n${(await c.logs()).slice(-3000)}`);
      });
      if (exited) throw new Error(`${name} exited (code ${exited.ExitCode}) before serving; logs:\n${(await c.logs()).slice(-3000)}`);
      return c;
    },
    // `podman stop -t seconds` (SIGTERM, SIGKILL after seconds): {code, ms}.
    async stop(seconds = 30) {
      const r = await podman(['stop', '-t', String(seconds), name], { timeout: (seconds + 30) * 1000 });
      const s = await c.state();
      return { code: s.ExitCode, ms: r.ms, oomKilled: s.OOMKilled };
    },
    async start() { await podman(['start', name]); return c.ready(); },
    async remove() { await podman(['rm', '-f', '-t', '0', name]); mine.delete(entry); },
  };
  return c.ready();
}

module.exports = {
  REPO, IMAGE, REDIS_IMAGE, NGINX_IMAGE, CONTAINERS_CONF,
  whyNot, sh, podman, standIns, buildImage, inspectImage, volume, runImage, unique,
};
