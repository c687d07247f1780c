// `npm install` builds the release binary, as the original's `npm install`
// fetched its dependencies. Needs the Rust toolchain (cargo) on PATH.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
if (process.env.WRW_SKIP_BUILD === '1') {
  console.log('WRW_SKIP_BUILD=1: not building the server');
  process.exit(0);
}
const r = spawnSync('cargo', ['build', '--release', '--locked', '--bin', 'webrtc-workspaces-server'], {
  cwd: root,
  stdio: 'inherit',
});
if (r.error) {
  console.error(`cannot run cargo (${r.error.message}); install Rust from https://rustup.rs and run npm install again`);
  process.exit(1);
}
process.exit(r.status === null ? 1 : r.status);
