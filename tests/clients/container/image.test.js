'use strict';
// The project's Dockerfile, built as a user builds it (podman, with local
// stand-ins for its two base images: lib.js, stand-ins.sh) and the image run:
// small (a stripped binary of at most 20 MB; dependencies in a layer of their
// own, reused when only the source changes), environment variables alone make
// it serve, a socket.io 2 client creates a workspace over WebSocket, it runs
// as a non-root user, its HEALTHCHECK (the binary's `healthcheck`) works over
// HTTP and HTTPS, `podman stop` (SIGTERM) exits 0 within the drain timeout,
// and a read-only root filesystem works with json_storage_file on a volume
// whose workspaces survive the container.
//
// Where podman cannot run, every test reports itself skipped with the reason.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const L = require('../harness.js');
const D = require('../deploy/lib.js');
const K = require('./lib.js');

const SKIP = K.whyNot();
const BIN = '/usr/local/bin/webrtc-workspaces-server';
const MAX_BINARY = 20 * 1024 * 1024;
// shutdown_timeout_secs' default: the drain is bounded by it.
const DRAIN_SECS = 10;
// The ids of the images a `podman build` log shows it made, not took from its cache.
const newImages = (log) => {
  const lines = log.split('\n');
  // "--> Using cache <id>" then "--> <id>" for a cached step; "--> <id>" alone for a new one.
  return lines.map((l, i) => [/^--> ([0-9a-f]{11,})\s*$/.exec(l), lines[i - 1] || ''])
    .filter(([m, prev]) => m && !/Using cache/.test(prev))
    .map(([m]) => m[1]);
};
const secrets = () => ({ ...L.newSecrets(), DEVELOPMENT: 'false', RUST_LOG: 'info' });

describe('the container image (Dockerfile)', { timeout: 75 * 60000 }, () => {
  let built = null;
  const skipped = (t) => {
    if (SKIP) { t.skip(`skipped: ${SKIP}`); return true; }
    assert.ok(built, 'the image was built (first test)');
    return false;
  };

  it('builds from the Dockerfile: a stripped binary of at most 20 MB, non-root user, HEALTHCHECK without curl', { timeout: 70 * 60000 }, async (t) => {
    if (SKIP) return t.skip(`skipped: ${SKIP}`);
    const b = await K.buildImage();
    const img = await K.inspectImage();
    const size = Number((await K.podman(['run', '--rm', '--entrypoint', 'stat', K.IMAGE, '-c', '%s', BIN])).stdout.trim());
    t.diagnostic(`image build ${(b.ms / 1000).toFixed(0)} s; image ${(img.Size / 1e6).toFixed(1)} MB; binary ${(size / 1e6).toFixed(1)} MB`);
    assert.ok(size > 1e6 && size <= MAX_BINARY, `binary size ${size} <= ${MAX_BINARY}`);
    // No debug info: a stripped ELF has no .symtab and no DWARF sections
    // (.debug_gdb_scripts is loaded data, not debug info); the section names
    // are in the binary's last bytes.
    const elf = (await K.podman(['run', '--rm', '--entrypoint', 'sh', K.IMAGE, '-c',
      `tail -c 4096 ${BIN} | tr -c '[:print:]' '\\n' | grep -E '^\\.(symtab|debug_(info|line|str|abbrev|ranges))' || true`])).stdout.trim();
    assert.equal(elf, '', 'no .symtab/DWARF sections: stripped');
    assert.equal(img.Config.User, 'wrw');
    const hc = img.Healthcheck || img.Config.Healthcheck; // podman puts it at the top level
    assert.deepEqual(hc && hc.Test, ['CMD', BIN, 'healthcheck'], `HEALTHCHECK: ${JSON.stringify(hc)}`);
    const curl = await K.podman(['run', '--rm', '--entrypoint', 'sh', K.IMAGE, '-c', 'command -v curl || echo none']);
    assert.equal(curl.stdout.trim(), 'none', 'no curl in the image');
    built = { ...b, size, imageSize: img.Size };
  });

  it('a source change rebuilds only the source layer: the dependency layer comes from the cache', { timeout: 40 * 60000 }, async (t) => {
    if (skipped(t)) return;
    // The build context as the .dockerignore leaves it, with one source file changed.
    const ctx = L.tempDir('wrw-context-');
    for (const f of ['Dockerfile', '.dockerignore', 'Cargo.toml', 'Cargo.lock']) fs.copyFileSync(path.join(K.REPO, f), path.join(ctx, f));
    fs.cpSync(path.join(K.REPO, 'src'), path.join(ctx, 'src'), { recursive: true });
    fs.appendFileSync(path.join(ctx, 'src', 'main.rs'), `\n// a source change ${Date.now()}\n`);
    try {
      const b = await K.buildImage({ tag: 'localhost/wrw-test/server:changed', context: ctx });
      t.diagnostic(`build after a source change: ${(b.ms / 1000).toFixed(0)} s`);
      const steps = b.log.split('\n').filter((l) => /STEP \d+\/\d+: RUN|Using cache|Compiling/.test(l));
      const depStep = steps.findIndex((l) => /RUN mkdir src/.test(l));
      assert.ok(depStep >= 0 && /Using cache/.test(steps[depStep + 1] || ''), `the dependency layer is reused:\n${steps.join('\n')}`);
      const compiled = steps.filter((l) => /Compiling/.test(l));
      assert.deepEqual(compiled.map((l) => l.trim().split(' ')[1]), ['webrtc-workspaces-server'], 'only the project itself is compiled');
      built.changedLayers = newImages(b.log);
    } finally {
      // The images this build made (not the cached ones the real build uses):
      // each run would leave them. Only untagged ones: a step whose result is
      // byte for byte the real build's (the final stage, as a comment does
      // not change the binary) names the real image itself.
      await K.podman(['rmi', 'localhost/wrw-test/server:changed'], { ok: [0, 1, 2, 125] });
      for (const id of ((built && built.changedLayers) || []).reverse()) {
        const tags = await K.podman(['image', 'inspect', id, '--format', '{{len .RepoTags}}'], { ok: [0, 1, 125] });
        if (tags.stdout.trim() === '0') await K.podman(['rmi', id], { ok: [0, 1, 2, 125] });
      }
      L.removeDir(ctx);
    }
  });

  it('environment variables alone: it serves /health, a socket.io 2 client creates a workspace over WebSocket, it runs as wrw, SIGTERM exits 0 within the drain timeout', async (t) => {
    if (skipped(t)) return;
    const c = await K.runImage({ env: secrets() });
    try {
      const h = await L.health(c);
      assert.equal(h.status, 'ok', JSON.stringify(h));
      const top = (await K.podman(['top', c.name, 'user', 'args'])).stdout;
      assert.match(top, new RegExp(`^wrw\\s+${BIN}`, 'm'), `the server runs as wrw:\n${top}`);
      assert.equal((await c.exec('id', '-u')).stdout.trim() === '0', false, 'not uid 0');
      const hc = await K.podman(['healthcheck', 'run', c.name], { ok: [0, 1] });
      assert.equal(hc.code, 0, `podman healthcheck run: ${hc.stdout} ${hc.stderr}`);
      const direct = await c.exec(BIN, 'healthcheck');
      assert.equal(direct.stdout.trim(), `healthy: http://127.0.0.1:${c.port}/health`);

      const sock = await L.connect(c.url, L.V2_WS, 'owner (2.5.0, websocket)');
      try {
        const created = await L.create(sock, { name: 'in a container', attendee: 'alice' });
        assert.match(created.workspace.id, L.ID_RE);
        assert.equal(sock.io.engine.transport.name, 'websocket');
        // Stop with a client connected: the drain closes it, the exit is 0, in time.
        const s = await c.stop(DRAIN_SECS + 20);
        t.diagnostic(`podman stop: ${s.ms} ms`);
        assert.equal(s.code, 0, `exit code after SIGTERM; logs:\n${(await c.logs()).slice(-2000)}`);
        assert.ok(s.ms < DRAIN_SECS * 1000, `stopped within the drain timeout (${s.ms} ms)`);
        assert.match(await c.logs(), /shutting down/);
      } finally {
        L.close(sock);
      }
    } finally {
      await c.remove();
    }
  });

  it('HEALTHCHECK over HTTPS (ENABLE_HTTPS, a certificate it need not trust)', async (t) => {
    if (skipped(t)) return;
    const dir = L.tempDir('wrw-certs-');
    try {
      const ca = D.makeCA(dir);
      D.makeServerCert(dir, ca, { cn: 'server', serial: 7 });
      fs.writeFileSync(path.join(dir, 'config.js.toml'), '[https]\nkey = "/certs/server.key"\ncert = "/certs/server.crt"\n');
      // Readable by the image's user (openssl makes keys 0600, mkdtemp 0700).
      fs.chmodSync(dir, 0o755);
      for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
      const c = await K.runImage({
        env: { ...secrets(), ENABLE_HTTPS: 'true' },
        args: ['-v', `${dir}:/certs:ro`, '-v', `${dir}/config.js.toml:/app/config.js.toml:ro`],
        https: true,
        ca: fs.readFileSync(ca.cert),
      });
      try {
        const direct = await c.exec(BIN, 'healthcheck');
        assert.equal(direct.code, 0, `healthcheck: ${direct.stdout} ${direct.stderr}`);
        assert.equal(direct.stdout.trim(), `healthy: https://127.0.0.1:${c.port}/health`);
        const hc = await K.podman(['healthcheck', 'run', c.name], { ok: [0, 1] });
        assert.equal(hc.code, 0, `podman healthcheck run: ${hc.stdout} ${hc.stderr}`);
        assert.equal((await c.stop()).code, 0);
      } finally {
        await c.remove();
      }
    } finally {
      L.removeDir(dir);
    }
  });

  it('read-only root filesystem with json_storage_file on a volume; the workspace survives a new container on that volume', async (t) => {
    if (skipped(t)) return;
    const dir = L.tempDir('wrw-ro-');
    const vol = await K.volume('data');
    try {
      const config = path.join(dir, 'config.js.toml');
      fs.writeFileSync(config, 'json_storage_file = "/app/data/workspaces.json"\n');
      fs.chmodSync(config, 0o644);
      const env = secrets();
      const opts = { env, args: ['--read-only', '-v', `${vol.name}:/app/data`, '-v', `${config}:/app/config.js.toml:ro`] };
      const first = await K.runImage(opts);
      let created;
      try {
        const w = await first.exec('sh', '-c', 'touch /app/x 2>&1; echo $?');
        assert.notEqual(w.stdout.trim().split('\n').pop(), '0', `the root filesystem is read-only: ${w.stdout}`);
        const sock = await L.connect(first.url, L.V2_WS, 'owner');
        created = await L.create(sock, { name: 'kept', attendee: 'alice' });
        L.close(sock);
        assert.equal((await first.stop()).code, 0);
      } finally {
        await first.remove();
      }
      const stored = fs.readFileSync(path.join(await vol.mountpoint(), 'workspaces.json'), 'utf8');
      assert.ok(stored.includes(created.workspace.id), 'the workspace is in the file on the volume');

      const second = await K.runImage({ ...opts, env: { ...env, PORT: String(first.port) } });
      try {
        const sock = await L.connect(second.url, L.V2_WS, 'guest');
        const granted = await L.attendOk(sock, created.workspace.token, '', 'bob');
        assert.equal(granted.workspace.id, created.workspace.id, 'the workspace came back from the volume');
        L.close(sock);
        assert.equal((await second.stop()).code, 0);
      } finally {
        await second.remove();
      }
    } finally {
      await vol.remove();
      L.removeDir(dir);
    }
  });

  after(() => {
    assert.deepEqual(L.takeViolations(), []);
  });
});
