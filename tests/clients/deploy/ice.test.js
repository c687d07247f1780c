'use strict';
// ICE servers in production (issue #3): Twilio Network Traversal tokens
// (against a local stub of the Twilio API: one call per token lifetime, shared
// by concurrent requests, static list when Twilio fails or hangs) and coturn
// TURN REST credentials made with TURN_SECRET.

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('../harness.js');
const d = require('./lib.js');

const STATIC_STUN = d.PUBLIC_STUN.map((u) => ({ urls: u, url: u }));

async function startTwilioServer(t, stub, config = {}) {
  const srv = await h.startServer({
    config: { twilio_api_base: stub.base, ...config },
    env: { DEVELOPMENT: 'false', TWILIO_ACCOUNT_SID: 'ACtest', TWILIO_AUTH_TOKEN: 'secret' },
  });
  t.after(() => srv.stop());
  return srv;
}

async function connectMany(url, n, { batch = 25, client = '4' } = {}) {
  const sockets = [];
  try {
    for (let i = 0; i < n; i += batch) {
      const part = await Promise.all(Array.from({ length: Math.min(batch, n - i) },
        (_, j) => h.connect(url, { client, transport: 'websocket' }, `c${i + j}`)));
      sockets.push(...part);
    }
  } catch (e) {
    h.close(sockets);
    throw e;
  }
  return sockets;
}

test('Twilio: 100 concurrent iceservers requests cost one API call and get its ice_servers unchanged', { timeout: 60000 }, async (t) => {
  const stub = await d.twilioStub({ ttl: '86400', delayMs: 300 });
  t.after(() => stub.close());
  const srv = await startTwilioServer(t, stub);
  const sockets = await connectMany(srv.url, 100);
  t.after(() => h.close(sockets));
  assert.equal(stub.calls.length, 0, 'no Twilio call before anyone asks');

  const replies = await Promise.all(sockets.map((s) => h.reply(s, 'iceservers', {}, 'iceservers', 10000)));
  for (const r of replies) assert.deepEqual(r, stub.iceServers);
  assert.equal(stub.calls.length, 1, `Twilio calls for 100 concurrent requests: ${stub.calls.length}`);
  assert.equal(stub.maxInflight, 1);

  const call = stub.calls[0];
  assert.equal(call.method, 'POST');
  assert.equal(call.url, '/2010-04-01/Accounts/ACtest/Tokens.json');
  assert.equal(call.headers.authorization, `Basic ${Buffer.from('ACtest:secret').toString('base64')}`);

  // Later requests (and later sockets) are served from the cache.
  const more = await Promise.all(sockets.slice(0, 10).map((s) => h.reply(s, 'iceservers', {}, 'iceservers')));
  for (const r of more) assert.deepEqual(r, stub.iceServers);
  assert.equal(stub.calls.length, 1);
});

test('Twilio: calls per 1000 connections', { timeout: 180000 }, async (t) => {
  const stub = await d.twilioStub({ ttl: '86400' });
  t.after(() => stub.close());
  const srv = await startTwilioServer(t, stub);
  const N = 1000;
  const batch = 50;
  let served = 0;
  for (let i = 0; i < N; i += batch) {
    const client = (i / batch) % 2 === 0 ? '4' : '2.0.4';
    const sockets = await connectMany(srv.url, batch, { batch, client });
    try {
      const replies = await Promise.all(sockets.map((s) => h.reply(s, 'iceservers', {}, 'iceservers', 10000)));
      for (const r of replies) assert.deepEqual(r, stub.iceServers);
      served += replies.length;
    } finally {
      h.close(sockets);
    }
  }
  const perThousand = (stub.calls.length * 1000) / served;
  t.diagnostic(`Twilio calls per 1000 connections: ${perThousand} (${stub.calls.length} calls for ${served} connections)`);
  assert.equal(served, N);
  assert.equal(stub.calls.length, 1);
});

test('Twilio: a token is cached until ttl minus the margin, then exactly one new call', { timeout: 60000 }, async (t) => {
  // ttl "3", margin 1 → min(1, 3/2) = 1 → cached for 2 s.
  const stub = await d.twilioStub({ ttl: '3' });
  t.after(() => stub.close());
  const srv = await startTwilioServer(t, stub, { twilio_ttl_margin_secs: 1 });
  const [a, b] = await connectMany(srv.url, 2);
  t.after(() => h.close(a, b));

  assert.deepEqual(await h.reply(a, 'iceservers', {}, 'iceservers'), stub.iceServers);
  assert.deepEqual(await h.reply(b, 'iceservers', {}, 'iceservers'), stub.iceServers);
  assert.equal(stub.calls.length, 1);

  await h.poll(async () => {
    assert.deepEqual(await h.reply(a, 'iceservers', {}, 'iceservers'), stub.iceServers);
    return stub.calls.length >= 2;
  }, { timeout: 8000, every: 100, what: 'a second Twilio call once the cached token runs out' });
  assert.equal(stub.calls.length, 2, 'the first request after expiry makes exactly one call');
  const age = stub.calls[1].at - stub.calls[0].at;
  t.diagnostic(`second Twilio call ${age} ms after the first (expected ≈ 2000: ttl 3 s − margin 1 s)`);
  assert.ok(age >= 1900, `token reused for ${age} ms, expected ≥ ttl − margin = 2000 ms`);
  assert.ok(age <= 2900, `token refreshed only after ${age} ms, expected ≈ ttl − margin = 2000 ms`);

  // The fresh token is shared again: a burst right after costs nothing more.
  const burst = await Promise.all([a, b, a, b, a, b].map((s) => h.reply(s, 'iceservers', {}, 'iceservers')));
  for (const r of burst) assert.deepEqual(r, stub.iceServers);
  assert.equal(stub.calls.length, 2);
});

test('Twilio answering 500: the static STUN list (default: Google STUN, urls and url)', { timeout: 30000 }, async (t) => {
  const stub = await d.twilioStub({ mode: 'fail' });
  t.after(() => stub.close());
  const srv = await startTwilioServer(t, stub);
  const s = await h.connect(srv.url, { client: '2.0.4', transport: 'polling' });
  t.after(() => h.close(s));
  const list = await h.reply(s, 'iceservers', {}, 'iceservers');
  assert.deepEqual(list, STATIC_STUN);
  assert.equal(stub.calls.length, 1);
  assert.equal(s.connected, true);
});

test('Twilio hanging: the configured static list within twilio_timeout_ms + margin', { timeout: 30000 }, async (t) => {
  const stub = await d.twilioStub({ mode: 'hang' });
  t.after(() => stub.close());
  const ice = ['stun:stun.example.org:3478', 'stun:stun2.example.org:19302'];
  const srv = await startTwilioServer(t, stub, { twilio_timeout_ms: 500, ice_servers: ice });
  const s = await h.connect(srv.url, { client: '4', transport: 'websocket' });
  t.after(() => h.close(s));
  const started = Date.now();
  const list = await h.reply(s, 'iceservers', {}, 'iceservers', 5000);
  const elapsed = Date.now() - started;
  t.diagnostic(`fallback answered after ${elapsed} ms with twilio_timeout_ms = 500`);
  assert.deepEqual(list, ice.map((u) => ({ urls: u, url: u })));
  assert.equal(stub.calls.length, 1, 'Twilio was asked');
  assert.ok(elapsed >= 450, `answered after ${elapsed} ms, before the Twilio timeout`);
  assert.ok(elapsed <= 1500, `answered after ${elapsed} ms, expected within 500 ms + 1000 ms margin`);
});

test('TURN REST: coturn credentials from TURN_SECRET, then the static STUN list', { timeout: 30000 }, async (t) => {
  const srv = await h.startServer({
    config: { turn_urls: ['turn:127.0.0.1:3478'], turn_ttl_secs: 600 },
    env: { DEVELOPMENT: 'false', TURN_SECRET: 's3cret' },
  });
  t.after(() => srv.stop());
  for (const [client, transport] of [['2.0.4', 'polling'], ['4', 'websocket']]) {
    const s = await h.connect(srv.url, { client, transport });
    try {
      const now = Math.floor(Date.now() / 1000);
      const list = await h.reply(s, 'iceservers', {}, 'iceservers');
      assert.ok(Array.isArray(list) && list.length >= 1, JSON.stringify(list));
      const [turn, ...rest] = list;
      assert.equal(turn.urls, 'turn:127.0.0.1:3478');
      assert.equal(turn.url, 'turn:127.0.0.1:3478');
      assert.equal(typeof turn.username, 'string');
      const m = /^(\d+):(.+)$/.exec(turn.username);
      assert.ok(m, `username "<expiry>:<something>", got ${turn.username}`);
      const expiry = Number(m[1]);
      assert.ok(Math.abs(expiry - (now + 600)) <= 5, `expiry ${expiry} vs now + 600 = ${now + 600}`);
      const expected = crypto.createHmac('sha1', 's3cret').update(turn.username).digest('base64');
      assert.equal(turn.credential, expected);
      assert.deepEqual(rest, STATIC_STUN);
    } finally {
      h.close(s);
    }
  }
});
