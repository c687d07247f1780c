'use strict';
// Running the README's shell blocks as a reader would paste them: the block
// between two marker comments, with its ports (and its directory) changed
// mechanically, run by bash in a directory laid out like the repository, in
// a process group of its own that is killed at the end, pass or fail.
// Used by cluster/quickstart.test.js and deploy/production.test.js.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const L = require('./harness.js');
const { freePort } = require('./redis.js');

const ROOT = path.resolve(__dirname, '..', '..');
const PATH_WITH_SBIN = `${process.env.PATH || '/usr/bin:/bin'}:/usr/sbin`;

// The commands of `cmds` that are on PATH (with /usr/sbin) nowhere, as the
// reason to skip, or null.
function missingTools(cmds, install) {
  const onPath = (cmd) => PATH_WITH_SBIN.split(':').some((d) => d && fs.existsSync(path.join(d, cmd)));
  const missing = cmds.filter((c) => !onPath(c));
  return missing.length ? `${missing.join(', ')} not found (apt-get install -y --no-install-recommends ${install})` : null;
}

// The ```sh blocks of README.md between <!-- name --> and <!-- /name -->;
// there must be exactly `count` of them.
function readmeBlocks(name, count) {
  const begin = `<!-- ${name} -->`;
  const end = `<!-- /${name} -->`;
  const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  assert.ok(a >= 0 && b > a, `README.md has ${begin} ... ${end}`);
  assert.equal(text.indexOf(begin, a + 1), -1, `README.md has one ${begin}`);
  const blocks = [...text.slice(a, b).matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  assert.equal(blocks.length, count, `${count} \`\`\`sh block(s) between the markers, found ${blocks.length}`);
  return blocks;
}

const wordRe = (s) => new RegExp(`\\b${s}\\b`, 'g');

// `text` with every port of `map`'s keys (as a whole number) replaced by its value.
function withPorts(text, map) {
  return text.replace(wordRe(`(${Object.keys(map).join('|')})`), (p) => String(map[p]));
}

// `text` with the directory `from` replaced by `to`; nothing may still name it.
function withDir(text, from, to, what) {
  const escaped = from.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const out = text.replace(new RegExp(`${escaped}(?![\\w.-])`, 'g'), to);
  const left = out.split(to).join('');
  assert.ok(!left.includes(from), `${what}: ${from} left after the substitution:\n${out}`);
  return out;
}

// A map from each port in `ports` to a distinct free one.
async function freePortMap(ports) {
  const free = new Set();
  for (let i = 0; free.size < ports.length && i < 50; i++) free.add(await freePort());
  assert.equal(free.size, ports.length, 'distinct free ports');
  const list = [...free];
  return Object.fromEntries(ports.map((p, i) => [p, list[i]]));
}

// A directory `root/repo` laid out like the repository for what a block
// reads: target/release/webrtc-workspaces-server (a symlink to the binary
// under test) and `files` ({relative path: text}). Returns its path.
function fakeRepo(root, files = {}) {
  const bin = L.serverBinary();
  assert.ok(fs.existsSync(bin), `the server binary ${bin} exists (cargo build --release, or WRW_BIN)`);
  const repo = path.join(root, 'repo');
  fs.mkdirSync(path.join(repo, 'target', 'release'), { recursive: true });
  fs.symlinkSync(path.resolve(bin), path.join(repo, 'target', 'release', 'webrtc-workspaces-server'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(repo, rel)), { recursive: true });
    fs.writeFileSync(path.join(repo, rel), text);
  }
  return repo;
}

// [pid, state, pgrp] of every process, from /proc.
function processes() {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(d), state: f[0], pgrp: Number(f[2]) });
    } catch (_) { /* gone meanwhile */ }
  }
  return out;
}

// Live (not zombie) processes of group `pgid`, or of the pids in `pids`.
const liveIn = (pgid, pids = []) => processes().filter((p) => p.state !== 'Z' && (p.pgrp === pgid || pids.includes(p.pid)));

const signal = (pid, sig) => {
  try { process.kill(pid, sig); } catch (_) { /* gone */ }
};

const groups = new Set();
process.on('exit', () => {
  for (const g of groups) signal(-g, 'SIGKILL');
});

// Ends group `pgid` and the processes `pids`: SIGTERM, SIGKILL after 5 s.
async function killAll(pgid, pids = []) {
  signal(-pgid, 'SIGTERM');
  for (const p of pids) signal(p, 'SIGTERM');
  try {
    await L.poll(() => liveIn(pgid, pids).length === 0, { timeout: 5000, what: 'the block\'s processes exiting on SIGTERM' });
  } catch (_) {
    signal(-pgid, 'SIGKILL');
    for (const p of liveIn(pgid, pids)) signal(p.pid, 'SIGKILL');
  }
  groups.delete(pgid);
}

// Runs `script` with bash in `cwd`, in a new process group; output appended
// to `log`. Returns {pgid, exit}: `exit` resolves with {code, signal} once
// bash exits (bounded by `timeout`); what it left running in the background
// stays in the group, killed by killAll or at exit.
function runBash(script, { cwd, env, log, timeout, what }) {
  const fd = fs.openSync(log, 'a');
  const child = spawn('bash', ['-c', script], { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  groups.add(child.pid);
  const exit = new Promise((resolve) => {
    child.on('exit', (code, sig) => resolve({ code, signal: sig }));
    child.on('error', (e) => resolve({ code: null, signal: null, error: e.message }));
  });
  return { pgid: child.pid, exit: L.withTimeout(exit, timeout, `${what}: bash still running after ${timeout} ms`) };
}

// The last `n` characters of each file, for a failure message.
function tails(files, n = 2500) {
  return files.map((f) => {
    let text;
    try { text = fs.readFileSync(f, 'utf8'); } catch (e) { text = `(${e.code})`; }
    return `--- ${f}\n${text.slice(-n)}`;
  }).join('\n');
}

module.exports = {
  ROOT, PATH_WITH_SBIN, missingTools, readmeBlocks, wordRe, withPorts, withDir, freePortMap, fakeRepo,
  liveIn, signal, killAll, runBash, tails,
};
