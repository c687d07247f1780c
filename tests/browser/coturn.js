// A throwaway coturn (Debian package `coturn`) for the TURN self-test: TURN
// REST (`use-auth-secret`) on 127.0.0.1 and a free port, UDP and TCP, no TLS,
// everything in a temp dir.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const h = require('../clients/harness.js');

const TURNSERVER = process.env.TURNSERVER_PATH || '/usr/bin/turnserver';
const READY_RE = /Total General servers/;

// A port free for TCP on 127.0.0.1 right now (coturn takes UDP and TCP on it).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// null when turnserver is not installed; else {url, port, stop, output}.
async function startCoturn({ secret, realm = 'wrw.test' }) {
  if (!fs.existsSync(TURNSERVER)) return null;
  const dir = h.tempDir('wrw-coturn-');
  const port = await freePort();
  const child = spawn(TURNSERVER, [
    '-n', `--listening-port=${port}`, '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1',
    '--use-auth-secret', `--static-auth-secret=${secret}`, `--realm=${realm}`,
    '--no-tls', '--no-dtls', '--no-cli', '--log-file=stdout', '--simple-log',
    `--pidfile=${path.join(dir, 'turnserver.pid')}`, `--userdb=${path.join(dir, 'turndb')}`,
  ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ready = new Promise((resolve, reject) => {
    const onData = (d) => {
      output += d;
      if (READY_RE.test(output)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then((code) => reject(new Error(`turnserver exited (${code}) before it was ready:\n${output}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await h.withTimeout(exited, 5000, 'turnserver exit').catch(() => { child.kill('SIGKILL'); });
    }
    h.removeDir(dir);
  };
  try {
    await h.withTimeout(ready, 10_000, 'turnserver ready');
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: `turn:127.0.0.1:${port}?transport=udp`, port, stop, output: () => output };
}

module.exports = { startCoturn, TURNSERVER };
