// The demo page (/demo) in headless Chromium with fake camera and
// microphone: three pages make a real three-way call through the server,
// and the self-test's TURN check runs against a real coturn and against a
// server with no TURN. Controls are found by role and accessible name only,
// as a person with a screen reader would find them.
//
// Screenshots of each page during the call go to artifacts/ (gitignored);
// WRW_UPDATE_SCREENSHOT=1 also writes the owner's to docs/demo-call.png (the
// README's). Needs /usr/bin/chromium, /usr/bin/turnserver (Debian `coturn`)
// and the server binary (docs/PROTOCOL.md § Appendix: testing against the server).
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../clients/harness.js');
const { launch, tail, serverOutput, recordPage } = require('./lib.js');
const { startCoturn, TURNSERVER } = require('./coturn.js');

const WAIT_MS = 10_000; // bound of every single wait
const CALL_MS = 30_000; // bound of a call's setup (ICE and the first frames)
const ARTIFACTS = path.join(__dirname, 'artifacts');
const DOCS_SHOT = path.join(__dirname, '..', '..', 'docs', 'demo-call.png');
const MEDIA_ARGS = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];
// No STUN: the machine may have no Internet, and host candidates are all a local call needs.
const CONFIG = { ice_servers: [] };
const PIN = '4711';
const PIN_TEXT = h.TEXT.PIN;

const button = (page, name) => page.getByRole('button', { name, exact: true });
const status = (page) => page.getByRole('status', { name: 'Status' });
const figure = (page, name) => page.getByRole('figure', { name, exact: true });

// ---------------------------------------------------------------- pages

async function openDemo(browser, label, url, logs) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  logs.push(recordPage(page, label, []));
  await h.withTimeout(page.goto(url), WAIT_MS, `${label}: load ${url}`);
  await status(page).filter({ hasText: /connected|back in/i }).waitFor({ timeout: WAIT_MS });
  return { label, page, context, close: () => context.close() };
}

// Fills the field `label` of the form `form` (the visible one of that name).
async function fill(page, form, label, value) {
  await page.getByRole('form', { name: form }).getByLabel(label, { exact: true }).fill(value, { timeout: WAIT_MS });
}

// Resolves once the <video> of `name`'s figure on `page` plays: frames of a
// size, and currentTime advancing. `fresh`: a video element not marked by
// `markVideos` (a connection made after the mark).
async function playing(p, name, { fresh = false } = {}) {
  const video = figure(p.page, name).locator('video');
  const what = `${p.label} sees ${name}'s video`;
  const first = await h.poll(async () => {
    const v = await video.evaluate((el) => ({ w: el.videoWidth, t: el.currentTime, marked: el.dataset.mark === '1' }),
      undefined, { timeout: 1000 });
    return v.w > 0 && v.t > 0 && !(fresh && v.marked) && v;
  }, { timeout: CALL_MS, every: 100, what });
  await h.poll(async () => (await video.evaluate((el) => el.currentTime, undefined, { timeout: 1000 })) > first.t,
    { timeout: WAIT_MS, every: 100, what: `${what}: currentTime advancing` });
}

const markVideos = (p) => p.page.locator('figure video').evaluateAll((els) => els.forEach((el) => { el.dataset.mark = '1'; }));

async function textOf(locator, re, what) {
  return h.poll(async () => {
    const t = await locator.textContent({ timeout: 1000 });
    return re.test(t || '') && t;
  }, { timeout: WAIT_MS, what });
}

async function shot(p, file) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const to = path.join(ARTIFACTS, file);
  await p.page.screenshot({ path: to, fullPage: true, timeout: WAIT_MS });
  return to;
}

// Runs `steps(step)` with the pages' logs and the server's output on failure;
// `t` (the test context) gets how long each step took.
async function withDiagnostics(t, server, logs, steps) {
  let current = 'start';
  let since = Date.now();
  const took = [];
  const done = () => took.push(`${current}: ${Date.now() - since} ms`);
  try {
    await steps((name) => {
      done();
      current = name;
      since = Date.now();
    });
    done();
    t.diagnostic(took.join('; '));
  } catch (err) {
    assert.fail([
      `step "${current}" failed: ${err && err.stack}`,
      '--- browser log ---', ...logs.flatMap((l) => tail(l, 25)),
      '--- server output ---', ...tail(serverOutput(server), 20),
    ].join('\n'));
  }
}

// ---------------------------------------------------------------- the tests

describe('demo page (Chromium, fake media)', { timeout: 240_000 }, () => {
  let server;
  let browser;

  before(async () => {
    server = await h.startServer({ config: CONFIG });
    browser = await launch(MEDIA_ARGS);
  });

  after(async () => {
    await Promise.allSettled([browser && browser.close(), server && server.stop()]);
  });

  it('is served in development mode and not with demo_page = "off"', async () => {
    const r = await h.get(`${server.url}/demo`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
    const off = await h.startServer({ config: { demo_page: 'off' } });
    try {
      assert.equal((await h.get(`${off.url}/demo`)).status, 404);
    } finally {
      await off.stop();
    }
  });

  it('serves the vendored libraries byte for byte as npm ships them', async () => {
    for (const [file, pkg] of [
      ['vendor/socket.io.esm.min.js', 'sio-4/dist/socket.io.esm.min.js'],
      ['vendor/qrcode.mjs', 'qrcode-generator/dist/qrcode.mjs'],
    ]) {
      const r = await h.get(`${server.url}/demo/${file}`);
      assert.equal(r.status, 200, file);
      assert.equal(r.body, fs.readFileSync(path.join(__dirname, 'node_modules', pkg), 'utf8'), `${file} is ${pkg}`);
    }
  });

  it('three-way call: create with PIN, join by link, call, toggle, reload, kick, wrong PIN, destroy', async (t) => {
    const logs = [];
    const pages = [];
    await withDiagnostics(t, server, logs, async (step) => {
      step('owner creates a workspace with a PIN');
      const owner = await openDemo(browser, 'owner', `${server.url}/demo`, logs);
      pages.push(owner);
      await fill(owner.page, 'New workspace', 'Workspace name', 'Demo call');
      await fill(owner.page, 'New workspace', 'PIN (optional)', PIN);
      await fill(owner.page, 'New workspace', 'Your name', 'Olga');
      await button(owner.page, 'Create workspace').click({ timeout: WAIT_MS });
      await textOf(status(owner.page), /created/i, 'owner: created status');
      const invite = await owner.page.getByLabel('Invite link').inputValue({ timeout: WAIT_MS });
      assert.match(invite, new RegExp(`^${server.url}/demo#invite=[^&]+&pin=1$`));
      const qr = owner.page.getByRole('img', { name: 'QR code of the invite link' });
      assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0, undefined, { timeout: WAIT_MS }), 'QR code drawn');

      step('a wrong PIN is shown as an error');
      const wrong = await openDemo(browser, 'wrong-pin', invite, logs);
      pages.push(wrong);
      await fill(wrong.page, 'Join a workspace', 'Your name', 'Mallory');
      await fill(wrong.page, 'Join a workspace', 'PIN', '0000');
      await button(wrong.page, 'Join').click({ timeout: WAIT_MS });
      await textOf(wrong.page.getByRole('alert'), new RegExp(PIN_TEXT.replace(/\./g, '\\.')), 'wrong PIN alert');
      assert.equal(await button(wrong.page, 'Start call').isVisible(), false, 'no workspace after a wrong PIN');

      step('two others join through the invite link');
      const guests = [];
      for (const [label, name] of [['bob', 'Bob'], ['carol', 'Carol']]) {
        const g = await openDemo(browser, label, invite, logs);
        pages.push(g);
        await fill(g.page, 'Join a workspace', 'Your name', name);
        await fill(g.page, 'Join a workspace', 'PIN', PIN);
        await button(g.page, 'Join').click({ timeout: WAIT_MS });
        await textOf(status(g.page), /you joined/i, `${label}: joined status`);
        guests.push(g);
      }
      const [bob, carol] = guests;
      const people = [[owner, 'Olga'], [bob, 'Bob'], [carol, 'Carol']];
      await textOf(owner.page.getByRole('list', { name: 'Attendees' }), /Olga[\s\S]*Bob[\s\S]*Carol/, 'owner lists all three');

      step('the owner starts the call; every remote video plays');
      await button(owner.page, 'Start call').click({ timeout: WAIT_MS });
      for (const [p, me] of people) {
        for (const [, other] of people) if (other !== me) await playing(p, other);
        await button(p.page, 'Hang up').waitFor({ timeout: WAIT_MS });
      }

      step('the self-test shows a selected candidate pair and its round trip per peer');
      for (const [p, me] of people) {
        for (const [, other] of people.filter(([, n]) => n !== me)) {
          const row = p.page.getByRole('row', { name: new RegExp(`^${other}\\b`) });
          await textOf(row, /connected.*(host|srflx|prflx|relay) \/ (host|srflx|prflx|relay).*\d+ ms/, `${p.label}: stats of ${other}`);
        }
      }

      step('screenshots of each page during the call');
      for (const [p] of people) await shot(p, `call-${p.label}.png`);
      if (process.env.WRW_UPDATE_SCREENSHOT === '1') {
        fs.mkdirSync(path.dirname(DOCS_SHOT), { recursive: true });
        await owner.page.screenshot({ path: DOCS_SHOT, fullPage: true, timeout: WAIT_MS });
      }

      step('Bob turns his microphone off; the others see it');
      await button(bob.page, 'Microphone').click({ timeout: WAIT_MS });
      assert.equal(await button(bob.page, 'Microphone').getAttribute('aria-pressed'), 'false');
      for (const p of [owner, carol]) await textOf(figure(p.page, 'Bob'), /Microphone off/, `${p.label} sees Bob's mic off`);

      step('Carol reloads; her call comes back');
      await Promise.all([owner, bob].map(markVideos));
      await carol.page.reload({ timeout: WAIT_MS });
      await textOf(status(carol.page), /back in|call/i, 'carol: back in the workspace');
      await playing(carol, 'Olga');
      await playing(carol, 'Bob');
      await playing(owner, 'Carol', { fresh: true });
      await playing(bob, 'Carol', { fresh: true });

      step('the owner kicks Bob');
      const bobItem = owner.page.getByRole('list', { name: 'Attendees' }).getByRole('listitem').filter({ hasText: 'Bob' });
      await bobItem.getByRole('button', { name: 'Kick', exact: true }).click({ timeout: WAIT_MS });
      await textOf(bob.page.getByRole('alert'), /removed/i, 'bob: kicked message');
      assert.equal(await button(bob.page, 'Hang up').isVisible(), false, 'bob is out of the call');
      for (const p of [owner, carol]) {
        await figure(p.page, 'Bob').waitFor({ state: 'detached', timeout: WAIT_MS });
        await textOf(p.page.getByRole('list', { name: 'Attendees' }), /^(?![\s\S]*Bob)/, `${p.label}: Bob gone from the list`);
      }

      step('the owner destroys the workspace; every page is cleared');
      await button(owner.page, 'Destroy workspace').click({ timeout: WAIT_MS });
      for (const p of [owner, carol]) {
        await textOf(p.page.getByRole('alert'), /destroyed/i, `${p.label}: destroyed message`);
        await button(p.page, 'Hang up').waitFor({ state: 'hidden', timeout: WAIT_MS });
        assert.equal(await p.page.locator('figure video').count(), 1, `${p.label}: no remote video left`);
        const stored = await p.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('wrw-demo-session')));
        assert.deepEqual(stored, [], `${p.label}: stored session removed`);
      }
      await button(owner.page, 'Create workspace').waitFor({ timeout: WAIT_MS });
      await button(carol.page, 'Join').waitFor({ timeout: WAIT_MS });
    });
    await Promise.allSettled(pages.map((p) => p.close()));
  });

  it('Test TURN says plainly that no TURN server is configured', async (t) => {
    const logs = [];
    await withDiagnostics(t, server, logs, async () => {
      const p = await openDemo(browser, 'no-turn', `${server.url}/demo`, logs);
      try {
        await button(p.page, 'Test TURN').click({ timeout: WAIT_MS });
        await textOf(p.page.getByRole('status', { name: 'TURN test result' }), /No TURN server is configured/, 'no-TURN verdict');
      } finally {
        await p.close();
      }
    });
  });

  it('Test TURN gets a relay candidate from a local coturn', async (t) => {
    if (!fs.existsSync(TURNSERVER)) {
      console.log(`skipped: ${TURNSERVER} missing (apt-get install -y coturn)`);
      t.skip(`${TURNSERVER} missing`);
      return;
    }
    const secret = crypto.randomBytes(16).toString('hex');
    const turn = await startCoturn({ secret });
    const turned = await h.startServer({ config: { ...CONFIG, turn_urls: [turn.url] }, env: { TURN_SECRET: secret } });
    const logs = [];
    try {
      await withDiagnostics(t, turned, logs, async (step) => {
        const p = await openDemo(browser, 'turn', `${turned.url}/demo`, logs);
        try {
          step('the ICE servers are listed, the credential masked');
          const ice = p.page.getByRole('list', { name: 'ICE servers handed out' });
          const listed = await textOf(ice, new RegExp(turn.url.replace(/[?.]/g, '\\$&')), 'TURN URL listed');
          assert.match(listed, /credential •••• \(hidden\)/);
          const username = /username (\S+)/.exec(listed)[1];
          const credential = crypto.createHmac('sha1', secret).update(username).digest('base64');
          const text = await p.page.locator('body').innerText();
          assert.ok(!text.includes(credential) && !text.includes(secret), 'no secret on the page');

          step('Test TURN');
          await button(p.page, 'Test TURN').click({ timeout: WAIT_MS });
          await textOf(p.page.getByRole('status', { name: 'TURN test result' }), /TURN works: relay candidate 127\.0\.0\.1:\d+/,
            `relay verdict; coturn output:\n${tail(turn.output().split('\n'), 30).join('\n')}`);
        } finally {
          await p.close();
        }
      });
    } finally {
      await Promise.allSettled([turned.stop(), turn.stop()]);
    }
  });
});
