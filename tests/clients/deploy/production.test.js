'use strict';
// The README's "Going to production" block, run as written (issue 26: "a new
// operator following only the README ends with a production start that keeps
// its tokens across restarts"): the ```sh block between
// <!-- production-quickstart --> and <!-- /production-quickstart --> is taken
// from README.md and run with bash, with two mechanical changes only: its port
// 9443 becomes a free one, and its directory /srv/wrw a temp directory. bash
// runs in a directory laid out like the repository (target/release/ holds the
// binary under test), in a process group of its own, killed at the end.
// Then: the block checked and started a production server that answered its
// curl --cacert over TLS; a workspace created with a PIN; the server stopped
// (SIGTERM) and started again from the same directory as an operator would;
// the invite token from before the restart attends with its PIN and the
// owner's stored session re-attends.
//
// Without bash, openssl or curl the test is reported skipped with the reason.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const L = require('../harness.js');
const R = require('../readme-blocks.js');

const HOME = '/srv/wrw';
const NO_TOOLS = R.missingTools(['bash', 'openssl', 'curl'], 'openssl curl');

describe('README "Going to production", pasted into bash', { timeout: 120000 }, () => {
  it('checks and starts a production server over TLS whose tokens survive a restart', async (t) => {
    if (NO_TOOLS) return t.skip(`skipped: ${NO_TOOLS}`);
    const [block] = R.readmeBlocks('production-quickstart', 1);
    assert.match(block, R.wordRe('9443'), 'the block names its port');
    assert.ok(block.includes(`WRW_HOME=${HOME}`), `the block works in ${HOME}`);
    const map = await R.freePortMap(['9443']);
    const root = L.tempDir('wrw-production-');
    const home = path.join(root, 'home');
    const repo = R.fakeRepo(root);
    const log = path.join(root, 'bash.log');
    const script = R.withDir(R.withPorts(block, map), HOME, home, 'the block');
    const env = L.serverEnv({ PATH: R.PATH_WITH_SBIN, REDIS_URL: undefined, WRW_HOME: undefined, BIN: undefined, RUST_LOG: 'warn' });

    const ran = R.runBash(script, { cwd: repo, env, log, timeout: 60000, what: 'the block' });
    const sockets = [];
    let srv = null;
    try {
      const done = await ran.exit;
      const out = fs.readFileSync(log, 'utf8');
      assert.equal(done.code, 0, `the block exits 0: ${JSON.stringify(done)}`);
      assert.match(out, /^configuration OK$/m, 'check passed');
      assert.match(out, /listening on https:\/\/0\.0\.0\.0:\d+ \(production mode, workspaces stored in \//, 'the banner: production, the file store');
      assert.match(out, /ICE servers handed out: Google's public STUN servers/, 'the banner names the ICE servers');
      assert.match(out, /"status":"ok"/, 'curl --cacert got /health over TLS');
      const env0 = fs.readFileSync(path.join(home, '.env'), 'utf8');
      assert.match(env0, /^MAGICK_TOKEN=[0-9a-f]{64}$/m, 'a real secret in .env');
      assert.equal(fs.statSync(path.join(home, '.env')).mode & 0o777, 0o600, '.env is private');

      const ca = fs.readFileSync(path.join(home, 'ca.pem'));
      const url = `https://localhost:${map['9443']}`;
      const tls = { ca, rejectUnauthorized: true };
      const owner = await L.connect(url, L.V2_POLL, { label: 'owner', ...tls });
      sockets.push(owner);
      const created = await L.create(owner, { name: 'production', pin: '4321', attendee: 'alice' });
      L.close(sockets.splice(0));

      // A restart, as an operator does it: stop, and start again in the same directory.
      await R.killAll(ran.pgid);
      assert.ok(fs.existsSync(path.join(home, 'data', 'workspaces.json')), 'the store file is where config.js.toml says');
      srv = await L.startServer({ dir: home, config: null, secrets: null, env: { PORT: undefined, DEVELOPMENT: undefined } });
      assert.match(srv.stdout(), /production mode/);
      const guest = await L.connect(url, L.V2_WS, { label: 'guest after the restart', ...tls });
      const back = await L.connect(url, L.V2_WS, { label: 'owner after the restart', ...tls });
      sockets.push(guest, back);
      const granted = await L.attendOk(guest, created.workspace.token, '4321', 'bob');
      assert.equal(granted.workspace.id, created.workspace.id, 'the invite link from before the restart still works');
      const r = await L.reAttend(back, created);
      assert.equal(r.event, 're-attendance-granted', `the owner's stored session: ${JSON.stringify(r)}`);
      assert.deepEqual(L.takeViolations(), []);
    } catch (e) {
      e.message += `\n${R.tails([log])}`;
      throw e;
    } finally {
      L.close(sockets);
      if (srv) await srv.stop();
      await R.killAll(ran.pgid);
      L.removeDir(root);
    }
  });
});
