'use strict';
// Issue #4: /health, /metrics (same port, separate port, off) and JSON logs.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('./lib.js');

const T = L.tracked(afterEach);
const start = (config = {}, rustLog) => T.start({ config, rustLog });
const conn = T.conn;

function socketCounts(samples) {
  const c = {};
  for (const eio of ['3', '4']) {
    for (const transport of ['polling', 'websocket']) {
      c[`${eio}/${transport}`] = L.metric(samples, 'wrw_sockets_connected', { eio, transport }, 0);
    }
  }
  return c;
}

describe('/health', () => {
  it('answers 200 JSON with version, uptime_secs, sockets and workspaces that follow the clients', async () => {
    const srv = await start();
    const h0 = await L.health(srv);
    assert.equal(typeof h0.version, 'string');
    assert.ok(h0.version.length > 0);
    assert.ok(Number.isInteger(h0.uptime_secs) && h0.uptime_secs >= 0, `uptime_secs ${h0.uptime_secs}`);
    assert.equal(h0.sockets, 0);
    assert.equal(h0.workspaces, 0);

    const a = await conn(srv, L.V2_POLL, 'a');
    const b = await conn(srv, L.V2_WS, 'b');
    const c = await conn(srv, L.V4_POLL, 'c');
    const d = await conn(srv, L.V4_WS, 'd');
    await L.create(a, { name: 'one' });
    const w = await L.create(d, { name: 'two' });
    await L.attendOk(b, w.workspace.token);
    const h1 = await L.health(srv);
    assert.equal(h1.sockets, 4);
    assert.equal(h1.workspaces, 2);

    L.close(c);
    L.vanish(b);
    await L.poll(async () => (await L.health(srv)).sockets === 2, { timeout: 5000, what: '/health sockets to drop to 2' });
    const h2 = await L.health(srv);
    assert.equal(h2.workspaces, 2);
  });
});

describe('/metrics', () => {
  it('Prometheus text: workspaces, attendees, sockets by eio and transport, events and alerts', async () => {
    const srv = await start();
    const r = await L.get(`${srv.url}/metrics`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    const m0 = L.parseProm(r.body);
    assert.equal(L.metric(m0, 'wrw_workspaces'), 0);
    assert.equal(L.metric(m0, 'wrw_attendees'), 0);
    assert.deepEqual(socketCounts(m0), { '3/polling': 0, '3/websocket': 0, '4/polling': 0, '4/websocket': 0 });
    const created0 = L.metric(m0, 'wrw_events_total', { event: 'create', outcome: 'ok' }, 0);
    const wrongPin0 = L.metric(m0, 'wrw_alerts_total', { reason: 'wrong_pin' }, 0);

    const v2p = await conn(srv, L.V2_POLL, 'v2p');
    const v2w1 = await conn(srv, L.V2_WS, 'v2w1');
    const v2w2 = await conn(srv, { client: '2.0.4', transport: 'websocket' }, 'v2w2');
    const v4p = await conn(srv, L.V4_POLL, 'v4p');
    const v4w = await conn(srv, L.V4_WS, 'v4w');
    const w1 = await L.create(v2p, { name: 'm1', pin: '1' });
    await L.create(v4w, { name: 'm2' });
    await L.create(v4p, { name: 'm3' });
    await L.attendOk(v2w1, w1.workspace.token, '1');
    assert.equal((await L.attend(v2w2, w1.workspace.token, '2')).event, 'alert');

    const m1 = await L.scrape(srv.url);
    assert.deepEqual(socketCounts(m1), { '3/polling': 1, '3/websocket': 2, '4/polling': 1, '4/websocket': 1 });
    assert.equal(L.metric(m1, 'wrw_workspaces'), 3);
    assert.equal(L.metric(m1, 'wrw_attendees'), 4);
    assert.equal(L.metric(m1, 'wrw_events_total', { event: 'create', outcome: 'ok' }, 0) - created0, 3);
    assert.equal(L.metric(m1, 'wrw_events_total', { event: 'attend', outcome: 'ok' }, 0), 1);
    assert.equal(L.metric(m1, 'wrw_alerts_total', { reason: 'wrong_pin' }, 0) - wrongPin0, 1);

    L.close(v2w2);
    L.vanish(v4p);
    await L.poll(async () => {
      const c = socketCounts(await L.scrape(srv.url));
      return c['3/websocket'] === 1 && c['4/polling'] === 0;
    }, { timeout: 5000, what: 'the socket gauges to follow two disconnects' });
    const m2 = await L.scrape(srv.url);
    assert.deepEqual(socketCounts(m2), { '3/polling': 1, '3/websocket': 1, '4/polling': 0, '4/websocket': 1 });
    assert.equal((await L.health(srv)).sockets, 3);
  });

  it('metrics_address = "ip:port" serves /metrics there, and /metrics on the main port is 404', async () => {
    const srv = await start({ metrics_address: '127.0.0.1:0' });
    assert.ok(srv.metricsUrl, `the banner names the metrics address: ${srv.stdout()}`);
    assert.notEqual(srv.metricsUrl, srv.url);
    const s = await conn(srv, L.V4_WS, 's');
    await L.create(s, { name: 'sep' });
    const m = await L.scrape(srv.metricsUrl);
    assert.equal(L.metric(m, 'wrw_workspaces'), 1);
    assert.equal(L.metric(m, 'wrw_sockets_connected', { eio: '4', transport: 'websocket' }), 1);
    assert.equal((await L.get(`${srv.url}/metrics`)).status, 404);
    assert.equal((await L.health(srv)).workspaces, 1, '/health stays on the main port');
  });

  it('metrics_address = "off": /metrics is 404', async () => {
    const srv = await start({ metrics_address: 'off' });
    assert.equal((await L.get(`${srv.url}/metrics`)).status, 404);
    assert.equal((await L.health(srv)).sockets, 0);
  });
});

describe('log_format = "json"', () => {
  it('every stderr line is JSON; creating a workspace logs its id and no token', async () => {
    const srv = await start({ log_format: 'json' }, 'info');
    const owner = await conn(srv, L.V4_WS, 'owner');
    const w = await L.create(owner, { name: 'logged', pin: '9' });
    const guest = await conn(srv, L.V2_POLL, 'guest');
    const g = await L.attendOk(guest, w.workspace.token, '9');
    const again = await conn(srv, L.V2_WS, 'again');
    assert.equal((await L.reAttend(again, { workspace: g.workspace, attendee: g.attendee, accessToken: g.accessToken })).event, 're-attendance-granted');
    assert.equal((await L.attend(again, w.workspace.token, '8')).event, 'alert');

    const lines = () => L.poll(() => {
      const ls = srv.stderr().split('\n').filter((l) => l.trim());
      const parsed = ls.map((l) => { try { return JSON.parse(l); } catch (_) { return l; } });
      return parsed.some((p) => typeof p === 'object' && JSON.stringify(p).includes(w.workspace.id)) ? parsed : null;
    }, { timeout: 5000, what: `a log line naming ${w.workspace.id}:\n${srv.stderr()}` });
    const parsed = await lines();
    const notJson = parsed.filter((p) => typeof p !== 'object' || p === null);
    assert.deepEqual(notJson, [], 'stderr lines that are not JSON');
    const createdLine = parsed.find((p) => JSON.stringify(p).includes(w.workspace.id) && /creat/i.test(JSON.stringify(p)));
    assert.ok(createdLine, `a line about creating ${w.workspace.id}: ${JSON.stringify(parsed)}`);
    const all = srv.stderr();
    for (const [what, token] of [['owner access token', w.accessToken], ['guest access token', g.accessToken], ['workspace token', w.workspace.token]]) {
      assert.ok(!all.includes(token), `the ${what} appears in the logs`);
      // Not even its signature alone.
      assert.ok(!all.includes(token.split('.')[2]), `the ${what}'s signature appears in the logs`);
    }
  });
});
