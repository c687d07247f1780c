'use strict';
// Issue #4: /health, /metrics (same port, separate port, off) and JSON logs.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const L = require('../harness.js');
const O = require('./original.js');
const { twilioStub } = require('../deploy/lib.js');

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
    assert.equal(h0.status, 'ok');
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

// The metrics README "Persistence, presence and operations" lists for
// /metrics: [{name, labels: [label names]}].
function readmeMetrics() {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('**`GET /metrics`**');
  assert.ok(start >= 0, 'README lists the metrics under **`GET /metrics`**');
  const end = readme.indexOf('\n- ', start);
  const text = readme.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(/`(wrw_[a-z0-9_]+)(?:\{([a-z_,\s]*)\})?`/g)]
    .map((m) => ({ name: m[1], labels: m[2] ? m[2].split(',').map((l) => l.trim()) : [] }));
}

// The metrics the README says are there from the first scrape on.
function readmeMetricsAtStart() {
  const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'README.md'), 'utf8');
  const m = /\*\*`GET \/metrics`\*\*[^]*?From the first scrape on:([^]*?)After their first/.exec(readme);
  assert.ok(m, 'README says which metrics are there from the first scrape on');
  return [...m[1].matchAll(/`(wrw_[a-z0-9_]+)/g)].map((x) => x[1]);
}

describe('/metrics at start', () => {
  it('the first scrape of a fresh server has exactly the metrics the README says are there from the start', async () => {
    const srv = await start();
    const names = new Set(L.parseProm((await L.get(`${srv.url}/metrics`)).body).map((x) => x.name));
    assert.deepEqual([...names].filter((n) => n.startsWith('wrw_')).sort(), readmeMetricsAtStart().sort());
  });
});

describe('/metrics: every metric the README lists', () => {
  it('after traffic that touches each of them, each is present with a plausible value', async (t) => {
    const listed = readmeMetrics();
    assert.ok(listed.length >= 10, `README metrics: ${JSON.stringify(listed)}`);
    const stub = await twilioStub({ mode: 'fail' });
    t.after(() => stub.close());
    // The original server's file with one PIN workspace: its invite token
    // costs one original-token (bcrypt) check.
    const secrets = L.newSecrets();
    const fx = O.fixture(secrets, { spec: [O.SPEC[0]] });
    const old = fx.workspaces[0];
    const dir = T.dir('wrw-ops-');
    const file = path.join(dir, 'workspaces.json');
    fs.writeFileSync(file, fx.text);
    const t0 = performance.now();
    const srv = await T.start({
      dir, secrets,
      env: { TWILIO_ACCOUNT_SID: 'ACtest', TWILIO_AUTH_TOKEN: 'secret' },
      config: {
        json_storage_file: file, max_capacity_of_workspace: 8, twilio_api_base: stub.base,
        // An abandoned workspace expires quickly (the others keep a connected member).
        workspace_expiry_secs: 2, presence_grace_secs: 600,
        // Room for 1 MB avatars: a few creates outgrow the journal's 8 MiB compaction floor.
        max_avatar_length: 1000000, max_connections_per_ip: 3,
      },
    });
    let creates = 0;
    const a = await conn(srv, L.V4_WS, 'a');
    // First, while the imported workspace is young: the old invite token + PIN (original token check).
    const g = await L.attendOk(a, old.token, old.pin, 'legacy');
    assert.equal(g.workspace.id, old.id);
    // A workspace whose only member leaves: it expires.
    const b = await conn(srv, L.V2_WS, 'b');
    await L.create(b, { name: 'abandoned' });
    creates++;
    L.close(b);
    // Twilio answers 500: one provider call, one failure, the static list.
    assert.equal((await L.ask(a, 'iceservers', {})).event, 'iceservers');
    // A wrong PIN: an alert.
    const c = await conn(srv, L.V4_POLL, 'c');
    const pinned = await L.create(c, { name: 'pinned', pin: '97531' });
    creates++;
    assert.deepEqual(await L.attend(a, pinned.workspace.token, '1', 'wrong'), { event: 'alert', payload: L.TEXT.PIN });
    // Journal writes until a compaction has been counted (it is collected by a later write).
    const avatar = 'a'.repeat(900000);
    await L.poll(async () => {
      const r = await L.ask(c, 'create', { workspace: { name: `big${creates}`, avatar }, attendee: { name: 'o' } }, { timeout: 10000 });
      assert.equal(r.event, 'created', JSON.stringify(r).slice(0, 300));
      creates++;
      return L.metric(await L.scrape(srv.url), 'wrw_store_compactions_total', { outcome: 'ok' }, 0) >= 1;
    }, { timeout: 30000, every: 0, what: 'a compaction to be counted' });
    assert.ok(creates <= 40, `${creates} creates (of 900 000-character avatars) before a compaction was counted`);
    // Connections refused: a 4th from one address (127.0.0.2; the others are from 127.0.0.1).
    const from2 = () => ({ localAddress: '127.0.0.2', agent: new http.Agent({ localAddress: '127.0.0.2' }) });
    for (let i = 0; i < 3; i++) await conn(srv, L.V4_WS, `127.0.0.2 #${i + 1}`, from2());
    const refused = await L.connect(srv.url, L.V4_WS, { label: '127.0.0.2 #4', ...from2() }).then((s) => { L.close(s); return null; }, (e) => e);
    assert.ok(refused && String(refused.connectError).includes(L.TEXT.TOO_MANY_CONNECTIONS), `the 4th connection from 127.0.0.2 is refused: ${refused && refused.message}`);
    // The abandoned workspace expires.
    await L.poll(async () => L.metric(await L.scrape(srv.url), 'wrw_workspaces_expired_total', {}, 0) >= 1,
      { timeout: 10000, every: 100, what: 'the abandoned workspace to expire' });

    const health = await L.health(srv);
    const samples = await L.scrape(srv.url);
    const elapsedSecs = (performance.now() - t0) / 1000;
    const of = (name) => samples.filter((x) => x.name === name);
    const sum = (name, labels = {}) => of(name).filter((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((n, x) => n + x.value, 0);
    // A histogram may be exported as a summary: name{quantile}, name_sum, name_count.
    const timing = (name, max) => {
      const count = L.metric(samples, `${name}_count`);
      const total = L.metric(samples, `${name}_sum`);
      assert.ok(count >= 1, `${name}_count ${count}`);
      assert.ok(total >= 0 && total <= count * max, `${name}_sum ${total} for ${count} observations`);
      for (const q of [...of(name), ...of(`${name}_bucket`)]) assert.ok(Number.isFinite(q.value) || q.value === Infinity, `${name} ${JSON.stringify(q)}`);
    };
    const checks = {
      wrw_sockets_connected: () => assert.equal(sum('wrw_sockets_connected'), health.sockets, '/metrics and /health agree on the sockets'),
      wrw_workspaces: () => {
        assert.equal(L.metric(samples, 'wrw_workspaces'), health.workspaces);
        assert.equal(health.workspaces, 1 + creates - 1, 'the imported one and every created one but the expired');
      },
      // The imported workspace's 2 members and the legacy newcomer; one owner per created, live workspace.
      wrw_attendees: () => assert.equal(L.metric(samples, 'wrw_attendees'), old.members.length + 1 + (creates - 1)),
      wrw_events_total: () => {
        assert.equal(sum('wrw_events_total', { event: 'create', outcome: 'ok' }), creates);
        assert.equal(sum('wrw_events_total', { event: 'attend', outcome: 'ok' }), 1);
        assert.equal(sum('wrw_events_total', { event: 'iceservers', outcome: 'ok' }), 1);
        assert.equal(sum('wrw_events_total', { event: 'attend' }), 2, 'the granted attend and the wrong PIN');
      },
      wrw_alerts_total: () => assert.equal(sum('wrw_alerts_total', { reason: 'wrong_pin' }), 1),
      wrw_store_writes_total: () => {
        assert.ok(sum('wrw_store_writes_total', { outcome: 'ok' }) >= creates + 1, `store writes ${JSON.stringify(of('wrw_store_writes_total'))} for ${creates} creates and an attend`);
        assert.equal(sum('wrw_store_writes_total', { outcome: 'error' }), 0);
      },
      wrw_store_write_seconds: () => timing('wrw_store_write_seconds', 10),
      wrw_store_compactions_total: () => {
        assert.ok(sum('wrw_store_compactions_total', { outcome: 'ok' }) >= 1);
        assert.equal(sum('wrw_store_compactions_total', { outcome: 'error' }), 0);
      },
      wrw_original_token_check_seconds: () => timing('wrw_original_token_check_seconds', 10),
      wrw_ice_provider_calls_total: () => assert.equal(sum('wrw_ice_provider_calls_total'), 1),
      wrw_ice_provider_failures_total: () => assert.equal(sum('wrw_ice_provider_failures_total'), 1),
      wrw_workspaces_expired_total: () => assert.equal(sum('wrw_workspaces_expired_total'), 1),
      wrw_connections_refused_total: () => assert.equal(sum('wrw_connections_refused_total'), 1),
      wrw_uptime_seconds: () => {
        const up = L.metric(samples, 'wrw_uptime_seconds');
        assert.ok(up >= 0 && up <= elapsedSecs + 1, `uptime ${up} s, the server is ${elapsedSecs.toFixed(1)} s old`);
      },
    };
    const problems = [];
    for (const { name, labels } of listed) {
      try {
        const found = [...of(name), ...of(`${name}_count`)];
        assert.ok(found.length > 0, 'not in /metrics');
        for (const x of of(name)) {
          for (const l of labels) assert.ok(l in x.labels, `a sample without the label ${l}: ${JSON.stringify(x)}`);
        }
        for (const x of found) assert.ok(x.value >= 0, `negative: ${JSON.stringify(x)}`);
        if (checks[name]) checks[name]();
      } catch (e) {
        problems.push(`${name}: ${e.message}`);
      }
    }
    t.diagnostic(`${listed.length} README metrics checked after ${creates} creates`);
    assert.deepEqual(problems, []);
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
    // The banner on stdout follows log_format too: JSON lines, the address and the ICE servers as fields.
    const banner = srv.stdout().split('\n').filter((l) => l.trim()).map((l) => {
      try { return JSON.parse(l); } catch (_) { return assert.fail(`a banner line that is not JSON: ${l}`); }
    });
    assert.equal(banner[0].fields.url, srv.url.replace('127.0.0.1', srv.host), `the banner's url: ${JSON.stringify(banner)}`);
    assert.match(banner[0].fields.message, L.BANNER_RE);
    assert.equal(banner[1].fields.ice_servers, "Google's public STUN servers", JSON.stringify(banner));
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
