// `npm start` runs the release binary in the current directory, so it reads
// the `.env` and `config.js.toml` found there, like the original server.
// Signals are passed on, so SIGTERM to npm drains the server gracefully.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const bin = path.join(__dirname, '..', 'target', 'release', 'webrtc-workspaces-server');
if (!fs.existsSync(bin)) {
  console.error(`${bin} is missing: run npm install first (it builds the server)`);
  process.exit(1);
}
const child = spawn(bin, process.argv.slice(2), { stdio: 'inherit', cwd: process.cwd() });
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => child.kill(sig));
}
child.on('exit', (code, signal) => process.exit(code === null ? (signal ? 1 : 0) : code));
