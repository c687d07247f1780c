'use strict';
// Limits against hostile clients (issue #5): PIN brute force (per address and
// per workspace, with and without trusted proxies), creation caps, the
// connection cap, the live-workspace cap and the per-socket event rate.

const http = require('node:http');
const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../harness.js');

const { TEXT } = h;
const V2_POLL = { client: '2.0.4', transport: 'polling' };
const V2_WS = { client: '2.0.4', transport: 'websocket' };
const V4_POLL = { client: '4', transport: 'polling' };
const V4_WS = { client: '4', transport: 'websocket' };
const ANSWER = 3000;

const T = h.tracked(after);
const server = (config) => T.start({ config });
const conn = T.conn;
const xff = (ip) => ({ extraHeaders: { 'X-Forwarded-For': ip } });
const from = (ip) => ({ localAddress: ip, agent: new http.Agent({ localAddress: ip }) });

// Sends one event and resolves with the first answer {event, payload}.
const ask = (sock, event, payload, timeout = ANSWER) => h.ask(sock, event, payload, { timeout });
async function create(sock, pin = '') {
  const r = await ask(sock, 'create', { workspace: { name: 'w', pin }, attendee: { name: 'owner' } });
  assert.equal(r.event, 'created', `create answered ${JSON.stringify(r)}`);
  return r.payload;
}
const attend = (sock, ws, pin) => ask(sock, 'attend', { workspace: { token: ws.token, pin }, attendee: { name: 'guest' } });

// `count` wrong PINs, one after the other; returns the list of answers.
async function wrongPins(sock, ws, count) {
  const answers = [];
  for (let i = 0; i < count; i++) {
    const r = await attend(sock, ws, `wrong-${i}`);
    answers.push(r.event === 'alert' ? r.payload : `${r.event} ${JSON.stringify(r.payload)}`);
  }
  return answers;
}
function assertBruteForce(answers, perIp) {
  const expected = [...Array(perIp).fill(TEXT.PIN), ...Array(answers.length - perIp).fill(TEXT.PIN_LOCKED)];
  const firstBad = answers.findIndex((a, i) => a !== expected[i]);
  assert.equal(firstBad, -1, `answer #${firstBad + 1} of ${answers.length} was ${JSON.stringify(answers[firstBad])}, expected ${JSON.stringify(expected[firstBad])}`);
}
const granted = (r, what) => assert.equal(r.event, 'attendance-granted', `${what}: ${JSON.stringify(r)}`);
const refused = (r, text, what) => assert.deepEqual(r, { event: 'alert', payload: text }, what);

describe('PIN brute force', () => {
  it('real peer addresses (host 0.0.0.0, no trusted proxy): 200 wrong PINs lock the address, X-Forwarded-For is ignored, another address still joins', async () => {
    const srv = await server({ host: '0.0.0.0', max_failed_pins_per_ip: 5 });
    const owner = await conn(srv, V4_WS, 'owner');
    for (const variant of [V2_POLL, V4_WS]) {
      const ws = (await create(owner, '2468')).workspace;
      // The attacker even claims another address in X-Forwarded-For: not trusted, ignored.
      const attacker = await conn(srv, variant, `attacker ${variant.client}/${variant.transport}`, xff('10.66.0.1'));
      assertBruteForce(await wrongPins(attacker, ws, 200), 5);
      refused(await attend(attacker, ws, '2468'), TEXT.PIN_LOCKED, 'the right PIN from the locked address is refused');
      const spoof = await conn(srv, variant, 'spoofing X-Forwarded-For', xff('10.66.0.2'));
      refused(await attend(spoof, ws, '2468'), TEXT.PIN_LOCKED,
        'same peer with another X-Forwarded-For (no trusted proxy) is still locked');
      const other = await conn(srv, variant, 'from 127.0.0.2', from('127.0.0.2'));
      granted(await attend(other, ws, '2468'), 'the right PIN from 127.0.0.2 joins');
      h.close(attacker); h.close(spoof); h.close(other);
    }
  });

  for (const [i, variant] of [V2_POLL, V2_WS, V4_POLL, V4_WS].entries()) {
    it(`behind a trusted proxy (X-Forwarded-For, ${variant.client}/${variant.transport}): 200 wrong PINs, first 5 wrong-PIN, rest locked; another forwarded address joins`, async () => {
      const srv = T.servers.find((s) => s.config.trusted_proxies) || await server({ trusted_proxies: ['127.0.0.1'], max_failed_pins_per_ip: 5 });
      const owner = await conn(srv, V4_WS, 'owner');
      const ws = (await create(owner, '1357')).workspace;
      const ip = `10.1.${i}.1`;
      const attacker = await conn(srv, variant, `attacker ${ip}`, xff(ip));
      assertBruteForce(await wrongPins(attacker, ws, 200), 5);
      refused(await attend(attacker, ws, '1357'), TEXT.PIN_LOCKED, 'right PIN from the locked address');
      const again = await conn(srv, variant, 'locked address, new socket', xff(ip));
      refused(await attend(again, ws, '1357'), TEXT.PIN_LOCKED, 'right PIN from the locked address on a new connection');
      const prepended = await conn(srv, variant, 'fake hop prepended', xff(`203.0.113.9, ${ip}`));
      refused(await attend(prepended, ws, '1357'), TEXT.PIN_LOCKED, 'a forged left-most hop does not escape the lock');
      const other = await conn(srv, variant, 'other forwarded address', xff(`10.1.${i}.2`));
      granted(await attend(other, ws, '1357'), 'the right PIN from another forwarded address joins');
      const ws2 = (await create(owner, '1357')).workspace;
      granted(await attend(attacker, ws2, '1357'), 'the lock is per workspace: the same address joins another workspace');
      for (const s of [owner, attacker, again, prepended, other]) h.close(s);
    });
  }

  it('workspace-wide cap: max_failed_pins_per_workspace = 3 locks the workspace for every address', async () => {
    const srv = await server({ trusted_proxies: ['127.0.0.1'], max_failed_pins_per_ip: 5, max_failed_pins_per_workspace: 3 });
    const owner = await conn(srv, V4_WS, 'owner');
    const ws = (await create(owner, '9999')).workspace;
    const spare = (await create(owner, '9999')).workspace;
    const variants = [V2_POLL, V2_WS, V4_POLL, V4_WS, V4_WS];
    const clients = [];
    for (let i = 1; i <= 5; i++) clients.push(await conn(srv, variants[i - 1], `10.2.0.${i}`, xff(`10.2.0.${i}`)));
    for (let i = 0; i < 3; i++) refused(await attend(clients[i], ws, `bad${i}`), TEXT.PIN, `wrong PIN #${i + 1} (address ${i + 1})`);
    refused(await attend(clients[3], ws, 'bad4'), TEXT.PIN_LOCKED, 'a 4th address is locked out');
    refused(await attend(clients[4], ws, '9999'), TEXT.PIN_LOCKED, 'even the right PIN from a fresh address is refused');
    granted(await attend(clients[4], spare, '9999'), 'another workspace is not locked');
  });
});

describe('caps', () => {
  it('max_workspaces_per_ip_per_hour = 3: 3 creates succeed, the 4th (any socket of that address) gets CREATE_LIMIT', async () => {
    const srv = await server({ max_workspaces_per_ip_per_hour: 3, trusted_proxies: ['127.0.0.1'] });
    const a = await conn(srv, V2_POLL, 'a', xff('10.3.0.1'));
    for (let i = 0; i < 3; i++) await create(a);
    refused(await ask(a, 'create', { workspace: { name: 'x' } }), TEXT.CREATE_LIMIT, '4th create');
    const b = await conn(srv, V4_WS, 'b, same address', xff('10.3.0.1'));
    refused(await ask(b, 'create', {}), TEXT.CREATE_LIMIT, 'another socket of the same address');
    const c = await conn(srv, V4_POLL, 'c, other address', xff('10.3.0.2'));
    await create(c);
    // Refused creates did not count: still refused, not worse; other events still work.
    const ice = await ask(a, 'iceservers', {});
    assert.equal(ice.event, 'iceservers');
  });

  for (const variant of [V2_POLL, V2_WS, V4_POLL, V4_WS]) {
    it(`max_connections_per_ip = 3 (${variant.client}/${variant.transport}): the 4th connection gets the connect error, a slot frees on disconnect`, async () => {
      const srv = await server({ max_connections_per_ip: 3 });
      const held = [];
      for (let i = 0; i < 3; i++) held.push(await conn(srv, variant, `conn ${i + 1}`));
      const err = await conn(srv, variant, 'conn 4').then(() => null, (e) => e);
      assert.ok(err, 'the 4th connection must be refused');
      assert.ok(String(err.connectError).includes(TEXT.TOO_MANY_CONNECTIONS),
        `the refusal carries TOO_MANY_CONNECTIONS, got: ${err.message}`);
      for (const s of held) assert.ok(s.connected, 'the 3 connections stay up');
      assert.equal((await ask(held[0], 'iceservers', {})).event, 'iceservers', 'and are served');
      h.close(held[0]);
      // The slot is freed when the server notices the disconnect: retry, bounded.
      let lastErr = null;
      let fresh = null;
      const deadline = Date.now() + 5000;
      while (!fresh && Date.now() < deadline) {
        fresh = await conn(srv, variant, 'after a disconnect').catch((e) => { lastErr = e; return null; });
      }
      assert.ok(fresh, `a new connection is accepted after one disconnects (last error: ${lastErr && lastErr.message})`);
      assert.equal((await ask(fresh, 'iceservers', {})).event, 'iceservers');
      for (const s of [...held, fresh]) h.close(s);
    });
  }

  it('max_live_workspaces = 2: the third create gets LIVE_LIMIT; destroying one makes room', async () => {
    const srv = await server({ max_live_workspaces: 2 });
    const a = await conn(srv, V4_WS, 'a');
    const b = await conn(srv, V2_POLL, 'b');
    const first = await create(a);
    await create(b);
    refused(await ask(b, 'create', {}), TEXT.LIVE_LIMIT, 'third create');
    refused(await ask(a, 'create', {}), TEXT.LIVE_LIMIT, 'third create, other socket');
    const since = a.__rec.seq;
    a.emit('destroy', { workspace: { id: first.workspace.id }, attendee: { id: first.attendee.id }, accessToken: first.accessToken });
    assert.ok(await h.firstOf(a, ['destroyed'], { since, timeout: ANSWER }), 'destroyed');
    await create(b);
  });
});

describe('event rate', () => {
  for (const variant of [V2_WS, V2_POLL, V4_POLL, V4_WS]) {
    it(`events_per_second = 5, event_burst = 5 (${variant.client}/${variant.transport}): a burst of 10 gets 5 answers and 5 RATE_LIMITED; flooding past 20 refusals disconnects`, async (t) => {
      const srv = await server({ events_per_second: 5, event_burst: 5, max_refused_events: 20 });
      const flooder = await conn(srv, variant, 'flooder');
      const calm = await conn(srv, variant, 'calm (same address)');
      const since = flooder.__rec.seq;
      for (let i = 0; i < 10; i++) flooder.emit('iceservers', {});
      const answers = [];
      for (let i = 0; i < 10; i++) {
        const e = await h.firstOf(flooder, ['iceservers', 'alert'], { since, timeout: ANSWER });
        assert.ok(e, `answer ${i + 1} of 10 missing; got ${JSON.stringify(answers)}`);
        answers.push(e.event === 'alert' ? e.payload : e.event);
      }
      assert.deepEqual(answers.filter((a) => a === 'iceservers').length, 5, `5 answered: ${JSON.stringify(answers)}`);
      assert.deepEqual(answers.filter((a) => a !== 'iceservers'), Array(5).fill(TEXT.RATE_LIMITED), 'and 5 RATE_LIMITED alerts');
      // The rate is per socket: another socket of the same address is served.
      assert.equal((await ask(calm, 'iceservers', {})).event, 'iceservers');
      // Flood: 5 refusals so far; 40 more events push past max_refused_events = 20.
      for (let i = 0; i < 40; i++) flooder.emit('iceservers', {});
      let timer;
      const reason = await Promise.race([
        flooder.__disconnected,
        new Promise((resolve) => { timer = setTimeout(() => resolve(null), 5000); }),
      ]);
      clearTimeout(timer);
      assert.ok(reason, 'the flooder is disconnected');
      // 'io server disconnect' when the DISCONNECT packet arrives before the
      // transport closes; 'transport close'/'transport error' otherwise.
      t.diagnostic(`flooder disconnect reason: ${reason}`);
      const limited = flooder.__rec.entries.filter((e) => e.event === 'alert' && e.payload === TEXT.RATE_LIMITED).length;
      assert.ok(limited <= 20 && limited >= 5, `at most max_refused_events RATE_LIMITED alerts before the disconnect, got ${limited}`);
      assert.ok(calm.connected, 'the calm socket stays connected');
      assert.equal((await ask(calm, 'iceservers', {})).event, 'iceservers');
      const ok = await h.get(`${srv.url}/`);
      assert.equal(ok.status, 200);
      h.drain(calm);
    });
  }
});
