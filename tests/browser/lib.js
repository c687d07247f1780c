// What the browser tests share: the Chromium they drive, how it is launched,
// a page's log for failure messages, and the server's output.
'use strict';

const fs = require('node:fs');
const { chromium } = require('playwright-core');
const { withTimeout } = require('../clients/harness.js');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Headless Debian Chromium with CHROMIUM_ARGS and `extraArgs`.
async function launch(extraArgs = []) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: apt-get install -y chromium`);
  return withTimeout(
    chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] }),
    30_000, 'chromium launch');
}

function tail(lines, n = 40) {
  return lines.length > n ? [`... (${lines.length - n} earlier lines cut)`, ...lines.slice(-n)] : lines;
}

// A server's output, line by line, for failure messages.
function serverOutput(server, name = 'server') {
  const lines = (text, what) => text.split('\n').filter((l) => l.trim()).map((l) => `[${name} ${what}] ${l}`);
  return [...lines(server.stdout(), 'stdout'), ...lines(server.stderr(), 'stderr')];
}

// Appends the page's console messages, page errors and failed requests to `log`.
function recordPage(page, label, log) {
  page.on('console', (m) => log.push(`[${label} console.${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[${label} pageerror] ${e && e.stack ? e.stack : e}`));
  page.on('requestfailed', (r) =>
    log.push(`[${label} requestfailed] ${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}`));
  return log;
}

module.exports = { CHROMIUM, CHROMIUM_ARGS, launch, tail, serverOutput, recordPage };
