'use strict';
// Webhooks (issue 23, step 2; the contract: webhooks-spec): every workspace
// change is POSTed to every webhook_urls entry, signed the Standard Webhooks
// way (checked with the npm package `standardwebhooks`), in order per
// workspace and URL, retried on the configured schedule with the same
// webhook-id, a 410 disables a URL, failed deliveries are listed and re-queued
// through /api/v1/webhook-deliveries, and /metrics counts them. Each server
// here gets a short retry schedule; receivers are ./receiver.js on the loopback.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { performance } = require('node:perf_hooks');
const L = require('../harness.js');
const { startReceiver, newSecret, verifies, delivered, hookMetrics } = require('./receiver.js');

const T = L.tracked(afterEach);
const receivers = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(opts) {
  const r = await startReceiver(opts);
  receivers.push(r);
  return r;
}

// The operator API key of every server here.
const KEY = crypto.randomBytes(24).toString('hex');

// A server posting to `urls`, signing with `secrets`, with a short retry schedule.
function startHooked({ urls, secrets, config = {}, env = {} }) {
  return T.start({
    config: { max_capacity_of_workspace: 8, webhook_urls: urls, webhook_retry_delays_ms: [100, 200, 400], ...config },
    env: { OPERATOR_API_KEYS: KEY, WEBHOOK_SECRET: secrets.join(','), ...env },
  });
}

// One /api/v1 request through the harness's helper, with this file's key
// (`key` null: no Authorization header).
const api = (srv, method, path, body, { key = KEY } = {}) =>
  L.api(srv, method, path, { key: key === null ? undefined : key, body });

async function apiOk(srv, method, path, body, status) {
  return L.apiOk(await api(srv, method, path, body), status, `${method} ${path} ${JSON.stringify(body)}`);
}

const failedList = async (srv) => (await apiOk(srv, 'GET', '/api/v1/webhook-deliveries?status=failed', undefined, 200)).deliveries;

// Resolves with the metrics once nothing is pending (and `cond` holds, if given).
function settled(srv, { cond = () => true, timeout = 10000, what = 'wrw_webhook_pending 0' } = {}) {
  return L.poll(async () => {
    const h = await hookMetrics(srv);
    return h.pending === 0 && cond(h) ? h : null;
  }, { timeout, every: 50, what });
}

// What a recorded request's body says.
const wsOf = (r) => r.json && r.json.data && r.json.data.workspace && r.json.data.workspace.id;
const seqOf = (r) => r.json && r.json.data && r.json.data.seq;
const typeOf = (r) => r.json && r.json.type;
const inWs = (ws) => (r) => wsOf(r) === ws;
const show = (rs) => JSON.stringify(rs.map((r) => [r.receiver, r.id, r.status, typeOf(r), wsOf(r), seqOf(r)]));

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$/;

// The form every request must have (webhooks-spec): a POST of JSON with the
// Standard Webhooks headers, verified with every secret, a body of
// {type, timestamp, data: {workspace: {id}, seq, ...}}; `window` [from, to]
// (ms since the epoch) bounds the body's timestamp.
function checkForm(r, window) {
  const where = `${r.receiver} request #${r.n} ${r.body.slice(0, 300)}`;
  assert.equal(r.method, 'POST', where);
  assert.match(String(r.headers['content-type']), /^application\/json/, `content-type of ${where}`);
  assert.match(String(r.id), /^msg_\S+$/, `webhook-id of ${where}`);
  assert.match(String(r.timestamp), /^\d+$/, `webhook-timestamp of ${where}`);
  // Unix seconds of this try (not of the event's first try): at most a second before its arrival, not after it.
  const skew = Number(r.timestamp) - r.wall / 1000;
  assert.ok(skew >= -2 && skew <= 1, `webhook-timestamp ${r.timestamp} is the try's time (${(r.wall / 1000).toFixed(1)}): ${where}`);
  assert.ok(r.verified, `the signature verifies with every secret (${JSON.stringify(r.verifiedBy)}): ${r.signature}; ${where}`);
  assert.ok(r.json && typeof r.json === 'object', `a JSON body: ${where}`);
  assert.deepEqual(Object.keys(r.json).sort(), ['data', 'timestamp', 'type'], `body keys: ${where}`);
  assert.match(String(r.json.timestamp), ISO_UTC, `body timestamp: ${where}`);
  const at = Date.parse(r.json.timestamp);
  if (window) assert.ok(at >= window[0] - 1000 && at <= window[1] + 1000, `body timestamp ${r.json.timestamp} within the test: ${where}`);
  assert.match(String(wsOf(r)), L.ID_RE, `data.workspace.id: ${where}`);
  assert.ok(Number.isInteger(seqOf(r)) && seqOf(r) >= 1, `data.seq: ${where}`);
}

// Every try of one event (one workspace and seq) carries one webhook-id and
// the same body (its timestamp is the change's), and different events
// different ids. Returns Map "ws/seq" -> id.
function checkIds(requests) {
  const byEvent = new Map();
  const bodies = new Map();
  for (const r of requests) {
    const k = `${wsOf(r)}/${seqOf(r)}`;
    if (!byEvent.has(k)) byEvent.set(k, new Set());
    byEvent.get(k).add(r.id);
    if (!bodies.has(k)) bodies.set(k, r.body);
    assert.equal(r.body, bodies.get(k), `every try of event ${k} carries the same body`);
  }
  const ids = new Map();
  for (const [k, set] of byEvent) {
    assert.equal(set.size, 1, `every try of event ${k} carries the same webhook-id: ${[...set].join(', ')}`);
    ids.set(k, [...set][0]);
  }
  const all = [...ids.values()];
  assert.equal(new Set(all).size, all.length, `one webhook-id per event: ${JSON.stringify([...ids])}`);
  return ids;
}

// In order per workspace: the tries of each workspace, in arrival order, go
// 1, 1, ..., 2, 2, ..., n: a try of seq k+1 only once seq k was answered 2xx
// (never failed here), and the last one of each seq is its 2xx. Returns ws -> n.
function checkLanes(requests) {
  const byWs = new Map();
  for (const r of requests) {
    if (!byWs.has(wsOf(r))) byWs.set(wsOf(r), []);
    byWs.get(wsOf(r)).push(r);
  }
  const counts = new Map();
  for (const [ws, rs] of byWs) {
    let head = 1;
    let headDone = false;
    for (const r of rs) {
      const s = seqOf(r);
      if (headDone && s === head + 1) {
        head = s;
        headDone = false;
      }
      assert.equal(s, head, `${ws}: a try of seq ${s} while seq ${head} is ${headDone ? 'delivered' : 'not yet delivered'}; tries: ${show(rs)}`);
      assert.ok(!headDone, `${ws}: seq ${s} tried again after a 2xx; tries: ${show(rs)}`);
      if (delivered(r)) headDone = true;
    }
    assert.ok(headDone, `${ws}: the last event (seq ${head}) was delivered; tries: ${show(rs)}`);
    counts.set(ws, head);
  }
  return counts;
}

// socket helpers
const leave = (sock, s) => sock.emit('leave', { workspace: { id: s.workspace.id }, attendee: s.attendee, accessToken: s.accessToken });
const kick = (owner, w, victim) => owner.emit('kick', {
  workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, kickedAttendee: { id: victim.id, name: victim.name }, accessToken: w.accessToken,
});
const destroyWs = (owner, w) => owner.emit('destroy', { workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, accessToken: w.accessToken });

// The next `event` the socket hears must name attendee `id`.
async function hears(socket, event, id, timeout = L.DEFAULT_TIMEOUT) {
  const p = await L.waitFor(socket, event, { timeout });
  assert.equal(p.id, id, `${socket.__label} hears '${event}' of ${id}: ${JSON.stringify(p)}`);
}

const pick = ({ id, name, avatar }) => ({ id, name, avatar });

describe('webhooks: every change, in order, signed', () => {
  it('a scripted run reaches two URLs exactly once each, in order per workspace, seq without gaps, signed with both secrets', async () => {
    const secrets = [newSecret(), newSecret(32)];
    const r1 = await receiver({ secrets, label: 'r1' });
    const r2 = await receiver({ secrets, label: 'r2', path: '/second/hook' });
    const srv = await startHooked({ urls: [r1.url, r2.url], secrets, config: { presence_grace_secs: 1, workspace_expiry_secs: 2 } });
    const t0 = Date.now();

    // What must arrive, per workspace, in order; a destroyed workspace's
    // members' `attendee.left` come in any order (a block).
    const expected = new Map();
    const expect = (ws, e) => {
      if (!expected.has(ws)) expected.set(ws, []);
      expected.get(ws).push(e);
    };

    // Workspace C: its only member (the owner) goes away; it expires after workspace_expiry_secs (2 s).
    const cOwner = await T.conn(srv, L.V2_WS, 'c owner');
    const C = await L.create(cOwner, { name: 'expiring', attendee: 'c owner' });
    expect(C.workspace.id, { type: 'workspace.created', attendee: pick(C.attendee) });
    expect(C.workspace.id, { type: 'attendee.left', reason: 'destroyed', members: [C.attendee.id] });
    expect(C.workspace.id, { type: 'workspace.destroyed', reason: 'expired' });
    L.close(cOwner);

    // Workspace A, by sockets (socket.io-client 2).
    const owner = await T.conn(srv, L.V2_POLL, 'owner');
    const A = await L.create(owner, { name: 'hooked', attendee: 'owner' });
    const wa = A.workspace.id;
    expect(wa, { type: 'workspace.created', attendee: pick(A.attendee) });

    const guest = await T.conn(srv, L.V2_WS, 'guest');
    const g = await L.attendOk(guest, A.workspace.token, '', 'guest');
    expect(wa, { type: 'attendee.joined', attendee: pick(g.attendee) });

    // A third socket with the guest's stored session.
    const reloaded = await T.conn(srv, L.V2_WS, 'guest reloaded');
    assert.equal((await L.reAttend(reloaded, g)).event, 're-attendance-granted');
    expect(wa, { type: 'attendee.rejoined', attendee: pick(g.attendee), restored: false });

    const leaverSock = await T.conn(srv, { client: '2.0.4', transport: 'websocket' }, 'leaver');
    const lv = await L.attendOk(leaverSock, A.workspace.token, '', 'leaver');
    expect(wa, { type: 'attendee.joined', attendee: pick(lv.attendee) });
    leave(leaverSock, lv);
    await hears(owner, 'leave', lv.attendee.id);
    expect(wa, { type: 'attendee.left', reason: 'left', attendee: pick(lv.attendee) });

    const kickedSock = await T.conn(srv, L.V2_POLL, 'kicked');
    const kd = await L.attendOk(kickedSock, A.workspace.token, '', 'kicked');
    expect(wa, { type: 'attendee.joined', attendee: pick(kd.attendee) });
    kick(owner, A, kd.attendee);
    await hears(owner, 'kicked', kd.attendee.id);
    expect(wa, { type: 'attendee.left', reason: 'kicked', attendee: pick(kd.attendee) });

    // A seat minted by the API, then removed by the API.
    const seat = await apiOk(srv, 'POST', `/api/v1/workspaces/${wa}/attendees`, { name: 'seat', avatar: 'seat.png' }, 201);
    expect(wa, { type: 'attendee.joined', attendee: pick(seat.attendee) });
    await apiOk(srv, 'DELETE', `/api/v1/workspaces/${wa}/attendees/${seat.attendee.id}`, undefined, 204);
    expect(wa, { type: 'attendee.left', reason: 'operator', attendee: pick(seat.attendee) });

    // Workspace B, made by the API, with a member by socket and a seat, destroyed by the API.
    const B = await apiOk(srv, 'POST', '/api/v1/workspaces', { name: 'by api', owner: { name: 'api owner', avatar: 'ao.png' } }, 201);
    const wb = B.workspace.id;
    expect(wb, { type: 'workspace.created', attendee: pick(B.attendee) });
    const bSock = await T.conn(srv, L.V2_WS, 'b guest');
    const bg = await L.attendOk(bSock, B.workspace.token, '', 'b guest');
    expect(wb, { type: 'attendee.joined', attendee: pick(bg.attendee) });
    const bSeat = await apiOk(srv, 'POST', `/api/v1/workspaces/${wb}/attendees`, { name: 'b seat' }, 201);
    expect(wb, { type: 'attendee.joined', attendee: pick(bSeat.attendee) });
    await apiOk(srv, 'DELETE', `/api/v1/workspaces/${wb}`, undefined, 204);
    await L.waitFor(bSock, 'destroyed');
    expect(wb, { type: 'attendee.left', reason: 'destroyed', members: [B.attendee.id, bg.attendee.id, bSeat.attendee.id] });
    expect(wb, { type: 'workspace.destroyed', reason: 'operator' });

    // Grace expiry: a member whose only socket goes away is removed after presence_grace_secs (1 s)...
    const lapsingSock = await T.conn(srv, L.V2_POLL, 'lapsing');
    const lp = await L.attendOk(lapsingSock, A.workspace.token, '', 'lapsing');
    expect(wa, { type: 'attendee.joined', attendee: pick(lp.attendee) });
    L.close(lapsingSock);
    await hears(owner, 'leave', lp.attendee.id, 10000);
    expect(wa, { type: 'attendee.left', reason: 'grace_expired', attendee: pick(lp.attendee) });
    // ...and comes back with its stored session: restored.
    const back = await T.conn(srv, L.V2_WS, 'lapsed, back');
    assert.equal((await L.reAttend(back, lp)).event, 're-attendance-granted');
    expect(wa, { type: 'attendee.rejoined', attendee: pick(lp.attendee), restored: true });

    // The owner destroys A: one attendee.left per member, then workspace.destroyed.
    destroyWs(owner, A);
    await L.waitFor(owner, 'destroyed');
    expect(wa, { type: 'attendee.left', reason: 'destroyed', members: [A.attendee.id, g.attendee.id, lp.attendee.id] });
    expect(wa, { type: 'workspace.destroyed', reason: 'owner' });

    // The number of events each URL must get.
    let total = 0;
    for (const es of expected.values()) for (const e of es) total += e.members ? e.members.length : 1;
    await Promise.all([r1, r2].map((r) => r.waitDelivered(() => true, total, { timeout: 15000, what: 'events delivered' })));
    const t1 = Date.now();
    const h = await settled(srv, { cond: (x) => x.delivered >= 2 * total });
    assert.deepEqual({ delivered: h.delivered, retried: h.retried, failed: h.failed },
      { delivered: 2 * total, retried: 0, failed: 0 }, 'one delivery per event and URL, none retried or failed');

    const ids = [];
    for (const r of [r1, r2]) {
      // Exactly once: every request was a first try answered 200, one per event.
      assert.equal(r.requests.length, total, `${r.label} got ${r.requests.length} requests for ${total} events: ${show(r.requests)}`);
      for (const q of r.requests) {
        checkForm(q, [t0, t1]);
        assert.equal(q.path, r.path, `${r.label} is posted to at its URL's path`);
      }
      ids.push(checkIds(r.requests));
      // Per workspace: exactly the expected events, in order, seq 1..n.
      for (const [ws, es] of expected) {
        const got = r.requests.filter(inWs(ws));
        let i = 0;
        let last = 0;
        for (const e of es) {
          const n = e.members ? e.members.length : 1;
          const part = got.slice(i, i + n);
          assert.equal(part.length, n, `${r.label} ${ws}: events up to ${e.type}${e.reason ? `/${e.reason}` : ''}; got ${show(got)}`);
          for (const q of part) {
            const where = `${r.label} ${ws} #${i + 1}: ${q.body}`;
            const d = q.json.data;
            assert.equal(d.seq, i + 1, `seq without gaps: ${where}`);
            assert.equal(q.json.type, e.type, where);
            assert.ok(Date.parse(q.json.timestamp) >= last, `timestamps in order: ${where}`);
            last = Date.parse(q.json.timestamp);
            if (e.reason !== undefined) assert.equal(d.reason, e.reason, `data.reason: ${where}`);
            if (e.attendee) assert.deepEqual(d.attendee, e.attendee, `data.attendee: ${where}`);
            if (e.type === 'workspace.destroyed') assert.equal(d.attendee, undefined, `no attendee: ${where}`);
            if (e.restored !== undefined) assert.equal(d.restored, e.restored, `data.restored: ${where}`);
            if (e.members) assert.deepEqual(Object.keys(d.attendee), ['id'], `only the id for reason destroyed: ${where}`);
            i++;
          }
          if (e.members) {
            assert.deepEqual(part.map((q) => q.json.data.attendee.id).sort(), [...e.members].sort(),
              `${r.label} ${ws}: one attendee.left (destroyed) per member, before workspace.destroyed; got ${show(got)}`);
          }
        }
        assert.equal(got.length, i, `${r.label} ${ws}: nothing after the expected events; got ${show(got)}`);
      }
    }
    // The id is the event's: both URLs get the same webhook-id for it.
    assert.deepEqual([...ids[1]].sort(), [...ids[0]].sort(), 'each event has the same webhook-id at both URLs');

    // The signature: one v1 entry per secret; each secret alone verifies; the check is real.
    for (const q of r1.requests) {
      const entries = q.signature.split(' ');
      assert.equal(entries.length, 2, `two signatures for two secrets: ${q.signature}`);
      for (const e of entries) assert.match(e, /^v1,[A-Za-z0-9+/]+={0,2}$/, `a v1 entry: ${q.signature}`);
      for (const s of secrets) assert.ok(verifies(s, q.body, q.headers), `${s.slice(0, 10)}… alone verifies ${q.id}`);
      // Each entry is one secret's: the first alone verifies with the first secret only, the second with the second.
      for (const [i, e] of entries.entries()) {
        const one = { ...q.headers, 'webhook-signature': e };
        assert.ok(verifies(secrets[i], q.body, one), `entry ${i + 1} is secret ${i + 1}'s`);
        assert.ok(!verifies(secrets[1 - i], q.body, one), `entry ${i + 1} is not secret ${2 - i}'s`);
      }
    }
    const q = r1.requests[1];
    assert.ok(!verifies(newSecret(), q.body, q.headers), 'a wrong secret does not verify');
    const tampered = q.body.replace(/("seq"\s*:\s*)(\d+)/, (m, k, n) => `${k}${Number(n) + 1}`);
    assert.notEqual(tampered, q.body, 'the tampering changed the body');
    assert.ok(!verifies(secrets[0], tampered, q.headers), 'a tampered body does not verify');
    assert.ok(!verifies(secrets[0], `${q.body} `, q.headers), 'a body with a byte more does not verify');
    assert.ok(!verifies(secrets[0], q.body, { ...q.headers, 'webhook-id': r1.requests[0].id }), 'another webhook-id does not verify');
    assert.ok(!verifies(secrets[0], q.body, { ...q.headers, 'webhook-timestamp': String(Number(q.timestamp) - 1) }), 'another timestamp does not verify');
    L.close(guest, reloaded, back, leaverSock, kickedSock, bSock);
  });
});

describe('webhooks: retries', () => {
  it('500s, then no answer in time, then a receiver that is down: everything arrives in order, each retry with the same webhook-id', async (t) => {
    const secrets = [newSecret()];
    const r = await receiver({ secrets, label: 'flaky' });
    const srv = await startHooked({
      urls: [r.url], secrets,
      config: { webhook_timeout_ms: 400, webhook_retry_delays_ms: [100, 200, 300, ...Array(20).fill(400)] },
    });
    const t0 = Date.now();
    r.respond({ status: 500 });
    // Three workspaces, each: created, a guest joins.
    const ws = [];
    for (let i = 0; i < 3; i++) {
      const owner = await T.conn(srv, i % 2 ? L.V2_WS : L.V2_POLL, `owner ${i}`);
      const w = await L.create(owner, { name: `flaky ${i}` });
      const gs = await T.conn(srv, L.V2_WS, `guest ${i}`);
      const g = await L.attendOk(gs, w.workspace.token, '', `guest ${i}`);
      ws.push({ owner, w, gs, g });
    }
    // Each lane's first event tried at least twice, answered 500.
    for (const { w } of ws) await r.waitCount((x) => inWs(w.workspace.id)(x) && x.status === 500, 2, { what: `500s to ${w.workspace.id}` });

    // No answer within webhook_timeout_ms (400): the receiver holds its answer 1.5 s.
    const slowFrom = r.requests.length;
    r.respond({ status: 500, delayMs: 1500 });
    for (const { owner, gs, g } of ws) {
      leave(gs, g);
      await hears(owner, 'leave', g.attendee.id);
    }
    // A try after one that got no answer in time.
    await r.waitCount((x) => x.n >= slowFrom, 4, { what: 'tries while the receiver answers too late' });

    // Down: the listener is closed, the connections cut.
    const downAt = performance.now();
    await r.down();
    const before = await hookMetrics(srv);
    for (const { w } of ws) {
      const s = await T.conn(srv, L.V2_WS, 'late guest');
      await L.attendOk(s, w.workspace.token, '', 'late guest');
    }
    const during = await L.poll(async () => {
      const h = await hookMetrics(srv);
      return h.retried >= before.retried + 3 && h.pending === 12 && h.oldest > 0 ? h : null;
    }, { timeout: 8000, what: 'tries against the closed port counted as retried, all 12 deliveries pending, the oldest older than 0 s' });
    assert.equal(during.delivered, 0);
    const downFrom = r.requests.length;

    // Back.
    r.respond({ status: 200 });
    await r.up();
    const total = 3 * 4;
    await r.waitDelivered(() => true, total, { timeout: 15000, what: 'every event delivered after the receiver came back' });
    const h = await settled(srv, { cond: (x) => x.delivered >= total });
    const t1 = Date.now();
    assert.ok(r.requests.length > downFrom, 'tries after the receiver came back');

    for (const q of r.requests) checkForm(q, [t0, t1]);
    checkIds(r.requests);
    // A try that got no answer within webhook_timeout_ms (400) is retried before its late answer (1.5 s).
    const gapsAfterSlow = [];
    for (const q of r.requests.slice(slowFrom)) {
      const nextTry = r.requests.find((x) => x.n > q.n && x.id === q.id);
      if (nextTry && nextTry.at < downAt) gapsAfterSlow.push(Math.round(nextTry.at - q.at));
    }
    assert.ok(gapsAfterSlow.length >= 1, 'a retry after a try that got no answer in time');
    assert.ok(gapsAfterSlow.every((g) => g < 1450), `the next try came before the late answer: ${gapsAfterSlow} ms`);
    const counts = checkLanes(r.requests);
    assert.deepEqual([...counts.values()], [4, 4, 4], `4 events per workspace: ${JSON.stringify([...counts])}`);
    for (const { w } of ws) {
      const types = r.matching((x) => delivered(x) && inWs(w.workspace.id)(x)).map(typeOf);
      assert.deepEqual(types, ['workspace.created', 'attendee.joined', 'attendee.left', 'attendee.joined'], w.workspace.id);
    }
    assert.equal(r.matching(delivered).length, total, `each event delivered once: ${show(r.requests)}`);
    assert.ok(h.retried > 0, `wrw_webhook_deliveries_total{result="retried"} ${h.retried}`);
    assert.equal(h.delivered, total);
    assert.equal(h.failed, 0);
    assert.equal(h.pending, 0);
    assert.ok(h.oldest !== undefined && h.oldest >= 0, `wrw_webhook_oldest_pending_seconds ${h.oldest}`);
    assert.deepEqual(await failedList(srv), [], 'nothing failed');
    t.diagnostic(`${r.requests.length} tries for ${total} events (${r.matching((x) => x.status === 500).length} answered 500, ` +
      `${r.matching((x) => x.aborted).length} cut off); retried ${h.retried}; gaps after a try left unanswered: ${gapsAfterSlow.join(', ')} ms`);
  });

  it('a workspace whose event is being retried does not hold up another; its own later events wait', async () => {
    const secrets = [newSecret()];
    const r = await receiver({ secrets, label: 'lanes' });
    const srv = await startHooked({ urls: [r.url], secrets, config: { webhook_retry_delays_ms: [100, ...Array(30).fill(200)] } });
    // The first workspace the receiver hears of is failed (500) until released.
    let held;
    let releaseA = false;
    r.respond((q) => {
      if (held === undefined) held = wsOf(q);
      return wsOf(q) === held && !releaseA ? { status: 500 } : { status: 200 };
    });

    const ownerA = await T.conn(srv, L.V2_WS, 'owner A');
    const A = await L.create(ownerA, { name: 'held', attendee: 'a' });
    const a1 = await r.waitFor((q) => q.status === 500, { what: "a 500 to A's event" });
    assert.equal(held, A.workspace.id);
    assert.equal(seqOf(a1), 1);

    const ownerB = await T.conn(srv, L.V2_POLL, 'owner B');
    const B = await L.create(ownerB, { name: 'free', attendee: 'b' });
    const gb = await T.conn(srv, L.V2_WS, 'guest B');
    const g = await L.attendOk(gb, B.workspace.token, '', 'gb');
    leave(gb, g);
    await hears(ownerB, 'leave', g.attendee.id);
    const bDone = await r.waitDelivered(inWs(B.workspace.id), 3, { timeout: 5000, what: "B's 3 events while A's first is retried" });
    assert.deepEqual(bDone.map(seqOf), [1, 2, 3]);
    assert.equal(r.matching((q) => inWs(held)(q) && delivered(q)).length, 0, 'A is still failing when B is done');

    // A's second event waits behind its first.
    const ga = await T.conn(srv, L.V2_WS, 'guest A');
    await L.attendOk(ga, A.workspace.token, '', 'ga');
    const mark = r.requests.length;
    await r.waitCount((q) => q.n >= mark && inWs(held)(q), 2, { what: "A's first event tried twice more after its second exists" });
    assert.deepEqual(r.matching((q) => inWs(held)(q)).map(seqOf).filter((s) => s !== 1), [], `only seq 1 of A is tried: ${show(r.requests)}`);

    releaseA = true;
    await r.waitDelivered(inWs(A.workspace.id), 2, { what: "A's two events after the receiver accepts them" });
    await settled(srv);
    checkIds(r.requests);
    const counts = checkLanes(r.requests);
    assert.equal(counts.get(A.workspace.id), 2);
    assert.equal(counts.get(B.workspace.id), 3);
    for (const q of r.requests) checkForm(q);
  });

  it('Retry-After on a 503 or a 429 is honoured (the next try ≥ 0.9 s later, where the schedule says 0.1 s); a plain 500 is retried on the schedule', async (t) => {
    const secrets = [newSecret()];
    const r = await receiver({ secrets, label: 'retry-after' });
    const srv = await startHooked({ urls: [r.url], secrets, config: { webhook_retry_delays_ms: [100, 200, 400] } });
    const first = new Map(); // ws -> answer of its first try
    const plan = [{ status: 503, headers: { 'retry-after': '1' } }, { status: 429, headers: { 'retry-after': '1' } }, { status: 500 }];
    const owners = [];
    for (let i = 0; i < 3; i++) owners.push(await T.conn(srv, L.V2_WS, `owner ${i}`));
    // Each workspace's first try gets its planned answer; later tries 200.
    const pending = [];
    r.respond((q) => {
      const ws = wsOf(q);
      if (!first.has(ws)) {
        first.set(ws, pending.shift() || { status: 200 });
        return first.get(ws);
      }
      return { status: 200 };
    });
    const made = [];
    for (let i = 0; i < 3; i++) {
      pending.push(plan[i]);
      const w = await L.create(owners[i], { name: `ra ${i}` });
      made.push(w.workspace.id);
      await r.waitFor(inWs(w.workspace.id), { what: `the first try for workspace ${i}` });
    }
    const gaps = [];
    for (const [i, ws] of made.entries()) {
      const [a, b] = await r.waitCount(inWs(ws), 2, { timeout: 5000, what: `two tries for ${ws}` });
      assert.equal(a.status, plan[i].status);
      assert.ok(delivered(b), `the second try is answered 200: ${show([a, b])}`);
      assert.equal(b.id, a.id, 'the same webhook-id');
      gaps.push(Math.round(b.at - a.answeredAt));
    }
    assert.ok(gaps[0] >= 900, `after 503 + Retry-After: 1 the next try came ${gaps[0]} ms later`);
    assert.ok(gaps[1] >= 900, `after 429 + Retry-After: 1 the next try came ${gaps[1]} ms later`);
    assert.ok(gaps[2] >= 75 && gaps[2] < 700, `after a plain 500 the next try came ${gaps[2]} ms later (schedule: 100 ms ± 20 %)`);
    await settled(srv);
    t.diagnostic(`next try after 503 + Retry-After: 1: ${gaps[0]} ms; after 429 + Retry-After: 1: ${gaps[1]} ms; after a plain 500: ${gaps[2]} ms`);
  });
});

describe('webhooks: failed deliveries and the API', () => {
  it('after the last try a delivery is listed as failed (attempts 3); a retry re-queues it with the same webhook-id; 404, 400, 401', async () => {
    const secrets = [newSecret()];
    const r = await receiver({ secrets, label: 'failing' });
    const srv = await startHooked({ urls: [r.url], secrets, config: { webhook_retry_delays_ms: [100, 200] } });
    r.respond({ status: 500 });
    const t0 = Date.now();
    const owner = await T.conn(srv, L.V2_POLL, 'owner');
    const w = await L.create(owner, { name: 'doomed' });
    const ws = w.workspace.id;
    const gs = await T.conn(srv, L.V2_WS, 'guest');
    await L.attendOk(gs, w.workspace.token, '', 'guest');
    // Both events fail after 1 + 2 tries each; the lane goes on with the second after the first's last try.
    const list = await L.poll(async () => {
      const l = await failedList(srv);
      return l.length >= 2 ? l : null;
    }, { timeout: 10000, what: 'two failed deliveries listed' });
    const t1 = Date.now();
    assert.equal(list.length, 2, JSON.stringify(list));
    const tries = r.requests;
    assert.equal(tries.length, 6, `3 tries per event: ${show(tries)}`);
    assert.deepEqual(tries.map(seqOf), [1, 1, 1, 2, 2, 2], `the second event is tried after the first's last try: ${show(tries)}`);
    const ids = checkIds(tries);
    for (const q of tries) checkForm(q, [t0, t1]);
    const id1 = ids.get(`${ws}/1`);
    const id2 = ids.get(`${ws}/2`);
    for (const [id, type] of [[id1, 'workspace.created'], [id2, 'attendee.joined']]) {
      const d = list.find((x) => x.id === id);
      assert.ok(d, `${id} (${type}) listed as failed: ${JSON.stringify(list)}`);
      assert.deepEqual(Object.keys(d).sort(), ['attempts', 'id', 'last_attempt_at', 'last_error', 'type', 'url', 'workspace'], JSON.stringify(d));
      assert.equal(d.url, r.url);
      assert.equal(d.type, type);
      // `workspace`: the id (or {id}, as in the event's data).
      assert.equal(typeof d.workspace === 'object' && d.workspace ? d.workspace.id : d.workspace, ws, JSON.stringify(d));
      assert.equal(d.attempts, 3, JSON.stringify(d));
      assert.equal(typeof d.last_error, 'string');
      assert.ok(d.last_error.length > 0, JSON.stringify(d));
      // The spec gives no format: milliseconds since the epoch (as the API's `created`) or an ISO-8601 string.
      const at = typeof d.last_attempt_at === 'number' ? d.last_attempt_at
        : ISO_UTC.test(String(d.last_attempt_at)) ? Date.parse(d.last_attempt_at) : NaN;
      assert.ok(Number.isFinite(at) && at >= t0 - 1000 && at <= t1 + 1000, `last_attempt_at ${d.last_attempt_at} within the test`);
      // The last try's time: the third try's arrival at the receiver.
      const third = tries.filter((x) => x.id === id)[2];
      assert.ok(Math.abs(at - third.wall) <= 1000, `last_attempt_at ${d.last_attempt_at} is the third try's time (${third.wall})`);
    }
    const h0 = await settled(srv);
    assert.deepEqual({ failed: h0.failed, delivered: h0.delivered }, { failed: 2, delivered: 0 });
    assert.ok(h0.retried >= 4, `retried ${h0.retried}`);

    // The receiver recovers; the first is re-queued by hand.
    r.respond({ status: 200 });
    const mark = r.requests.length;
    const retried = await api(srv, 'POST', `/api/v1/webhook-deliveries/${encodeURIComponent(id1)}/retry`);
    assert.equal(retried.status, 202, retried.body);
    assert.deepEqual(retried.json, {});
    const again = await r.waitDelivered((q) => q.n >= mark, 1, { what: 'the re-queued delivery' });
    assert.equal(again[0].id, id1, 'the same webhook-id');
    assert.equal(seqOf(again[0]), 1);
    assert.equal(typeOf(again[0]), 'workspace.created');
    checkForm(again[0]);
    const left = await failedList(srv);
    assert.deepEqual(left.map((x) => x.id), [id2], 'only the second is still failed');
    // Not (any more) a failed delivery: 404.
    const twice = await api(srv, 'POST', `/api/v1/webhook-deliveries/${encodeURIComponent(id1)}/retry`);
    assert.equal(twice.status, 404, `a retry of a delivered one: ${twice.body}`);
    const unknown = await api(srv, 'POST', '/api/v1/webhook-deliveries/msg_doesnotexist0000000000/retry');
    assert.equal(unknown.status, 404, unknown.body);
    assert.equal(unknown.json && unknown.json.error && unknown.json.error.code, 'not_found', unknown.body);
    // status: only `failed`, and required.
    for (const q of ['?status=other', '?status=', '']) {
      const bad = await api(srv, 'GET', `/api/v1/webhook-deliveries${q}`);
      assert.equal(bad.status, 400, `GET /api/v1/webhook-deliveries${q}: ${bad.body}`);
      assert.equal(bad.json && bad.json.error && bad.json.error.code, 'bad_request', bad.body);
    }
    // The key: none or a wrong one → 401.
    for (const [what, key] of [['no key', null], ['a wrong key', `${KEY}x`]]) {
      const g = await api(srv, 'GET', '/api/v1/webhook-deliveries?status=failed', undefined, { key });
      assert.equal(g.status, 401, `GET with ${what}: ${g.body}`);
      assert.match(String(g.headers['www-authenticate']), /^Bearer/, what);
      const p = await api(srv, 'POST', `/api/v1/webhook-deliveries/${encodeURIComponent(id2)}/retry`, undefined, { key });
      assert.equal(p.status, 401, `POST retry with ${what}: ${p.body}`);
    }
    assert.deepEqual((await failedList(srv)).map((x) => x.id), [id2], 'a refused retry changed nothing');
    assert.equal(r.requests.length, mark + 1, 'nothing tried meanwhile');

    // The second, re-queued: delivered; nothing failed or pending any more.
    assert.equal((await api(srv, 'POST', `/api/v1/webhook-deliveries/${encodeURIComponent(id2)}/retry`)).status, 202);
    const second = await r.waitDelivered((q) => q.n > mark, 1, { what: 'the second re-queued delivery' });
    assert.equal(second[0].id, id2);
    assert.deepEqual(await failedList(srv), []);
    const h1 = await settled(srv, { cond: (x) => x.delivered >= 2 });
    assert.equal(h1.delivered, 2);
  });

  it('any answer but a 2xx is retried (a 302 is not followed, a 400); a 204 is success; one retry re-queues an event for every URL it failed for', async () => {
    const secrets = [newSecret()];
    const a = await receiver({ secrets, label: 'a' });
    const b = await receiver({ secrets, label: 'b' });
    const target = await receiver({ secrets, label: 'redirect target' });
    const srv = await startHooked({ urls: [a.url, b.url], secrets, config: { webhook_retry_delays_ms: [100, 100] } });
    a.respondOnce({ status: 302, headers: { location: target.url } }, { status: 400 });
    a.respond({ status: 204 });
    b.respond({ status: 500 });
    const owner = await T.conn(srv, L.V2_WS, 'owner');
    const w = await L.create(owner, { name: 'answers' });
    const ws = w.workspace.id;
    await a.waitDelivered(inWs(ws), 1, { what: 'the event delivered to a at its third try' });
    const list1 = await L.poll(async () => {
      const l = await failedList(srv);
      return l.length >= 1 ? l : null;
    }, { timeout: 5000, what: "b's delivery listed as failed" });
    assert.deepEqual(a.requests.map((q) => q.status), [302, 400, 204], `a's tries: ${show(a.requests)}`);
    const id1 = a.requests[0].id;
    checkIds([...a.requests, ...b.requests]);
    assert.deepEqual(b.requests.map((q) => [q.status, q.id]), [[500, id1], [500, id1], [500, id1]], `b's tries: ${show(b.requests)}`);
    assert.deepEqual(list1.map((d) => [d.id, d.url, d.attempts]), [[id1, b.url, 3]], JSON.stringify(list1));

    // The next event fails to both URLs: listed once per URL, one retry re-queues it for both.
    a.respond({ status: 500 });
    const gs = await T.conn(srv, L.V2_POLL, 'guest');
    await L.attendOk(gs, w.workspace.token, '', 'guest');
    const list2 = await L.poll(async () => {
      const l = await failedList(srv);
      return l.length >= 3 ? l : null;
    }, { timeout: 5000, what: 'the second event failed to both URLs' });
    const id2 = a.requests.find((q) => seqOf(q) === 2).id;
    assert.equal(b.requests.find((q) => seqOf(q) === 2).id, id2, 'one webhook-id for the event at both URLs');
    assert.deepEqual(list2.filter((d) => d.id === id2).map((d) => [d.url, d.attempts, d.type]).sort(),
      [[a.url, 3, 'attendee.joined'], [b.url, 3, 'attendee.joined']].sort(), JSON.stringify(list2));
    a.respond({ status: 200 });
    b.respond({ status: 200 });
    const [markA, markB] = [a.requests.length, b.requests.length];
    const rr = await api(srv, 'POST', `/api/v1/webhook-deliveries/${encodeURIComponent(id2)}/retry`);
    assert.equal(rr.status, 202, rr.body);
    const [qa] = await a.waitDelivered((q) => q.n >= markA, 1, { what: 'the re-queued event at a' });
    const [qb] = await b.waitDelivered((q) => q.n >= markB, 1, { what: 'the re-queued event at b' });
    assert.deepEqual([qa.id, qb.id, seqOf(qa), seqOf(qb)], [id2, id2, 2, 2]);
    assert.deepEqual((await failedList(srv)).map((d) => [d.id, d.url]), [[id1, b.url]], 'only the first event at b is still failed');
    const h = await settled(srv, { cond: (x) => x.delivered >= 3 });
    assert.deepEqual({ delivered: h.delivered, failed: h.failed }, { delivered: 3, failed: 3 });
    assert.deepEqual([a.requests.length, b.requests.length], [markA + 1, markB + 1], 'each re-queued delivery tried once more');
    assert.equal(target.requests.length, 0, `the redirect is not followed: ${show(target.requests)}`);
    for (const q of [...a.requests, ...b.requests]) checkForm(q);
  });

  it('410 disables that URL (its pending deliveries become failed) while another URL keeps receiving', async () => {
    const secrets = [newSecret()];
    const gone = await receiver({ secrets, label: 'gone' });
    const kept = await receiver({ secrets, label: 'kept' });
    const srv = await startHooked({ urls: [gone.url, kept.url], secrets });
    // `gone` holds its answers until released, then answers 410.
    let release;
    const released = new Promise((res) => { release = res; });
    gone.respond({ status: 410, until: released });

    const owner = await T.conn(srv, L.V2_WS, 'owner');
    const w = await L.create(owner, { name: 'gone' });
    const ws = w.workspace.id;
    await gone.waitFor(inWs(ws), { what: 'the first try to the 410 URL' });
    const gs = await T.conn(srv, L.V2_POLL, 'guest');
    const g = await L.attendOk(gs, w.workspace.token, '', 'guest');
    await kept.waitDelivered(inWs(ws), 2, { what: 'the other URL gets both events while the first is held' });
    assert.equal(gone.requests.length, 1, `seq 2 waits behind the held seq 1: ${show(gone.requests)}`);

    release();
    await gone.waitFor((q) => q.answeredAt !== null, { what: 'the 410 answered' });
    // The 410 taken in: the URL's pending delivery (seq 2, attendee.joined) is failed.
    const joinedId = kept.requests.find((q) => seqOf(q) === 2 && inWs(ws)(q)).id;
    const list0 = await L.poll(async () => {
      const l = await failedList(srv);
      return l.some((d) => d.id === joinedId) ? l : null;
    }, { timeout: 5000, what: `the 410 URL's pending attendee.joined (${joinedId}) listed as failed` });
    const d = list0.find((x) => x.id === joinedId);
    assert.deepEqual([d.url, d.type], [gone.url, 'attendee.joined'], JSON.stringify(d));
    // Afterwards: more events; only the second URL hears them.
    leave(gs, g);
    await hears(owner, 'leave', g.attendee.id);
    const other = await L.create(await T.conn(srv, L.V2_WS, 'owner 2'), { name: 'after 410' });
    destroyWs(owner, w);
    await L.waitFor(owner, 'destroyed');
    await kept.waitDelivered(inWs(ws), 5, { what: 'created, joined, left, left (destroyed), destroyed' });
    await kept.waitDelivered(inWs(other.workspace.id), 1, { what: 'the other workspace created' });
    await settled(srv, { cond: (x) => x.delivered >= 6 });
    assert.equal(gone.requests.length, 1, `nothing more to the 410 URL: ${show(gone.requests)}`);
    assert.equal(kept.requests.length, 6, show(kept.requests));
    checkLanes(kept.requests);
    for (const q of [...gone.requests, ...kept.requests]) checkForm(q);

    // Nothing of the other URL failed.
    const list = await failedList(srv);
    assert.ok(list.every((x) => x.url === gone.url), `only the 410 URL's deliveries fail: ${JSON.stringify(list)}`);
    assert.ok(list.some((x) => x.id === joinedId), `still listed: ${JSON.stringify(list)}`);
  });
});

describe('webhooks: startup', () => {
  const start = (env) => L.expectRefusedStart({
    mentions: 'WEBHOOK_SECRET',
    config: { webhook_urls: ['http://127.0.0.1:9/hook'] },
    env: { OPERATOR_API_KEYS: KEY, ...env },
  });

  it('webhook_urls without WEBHOOK_SECRET (unset or blank): exit 2 naming WEBHOOK_SECRET', async () => {
    for (const value of [undefined, '']) {
      const srv = await start({ WEBHOOK_SECRET: value });
      assert.equal(srv.code, 2, `exit code with WEBHOOK_SECRET ${JSON.stringify(value)}: ${srv.stderr()}`);
    }
  });

  it('a malformed secret: exit 2 naming WEBHOOK_SECRET, and the secret is not in the output', async () => {
    const distinct = () => crypto.randomBytes(12).toString('hex');
    const cases = [
      ['too short (16 bytes)', `whsec_${crypto.randomBytes(16).toString('base64')}`],
      ['no whsec_ prefix', crypto.randomBytes(32).toString('base64')],
      ['not base64', `whsec_${distinct()}!!*${distinct()}`],
      ['a good one and a short one', `${newSecret()},whsec_${crypto.randomBytes(8).toString('base64')}`],
    ];
    for (const [what, secret] of cases) {
      const srv = await start({ WEBHOOK_SECRET: secret });
      assert.equal(srv.code, 2, `${what}: exit code; ${srv.stderr()}`);
      const out = srv.stdout() + srv.stderr();
      for (const part of secret.split(',')) {
        assert.ok(!out.includes(part), `${what}: the secret appears in the output:\n${out}`);
        const body = part.replace(/^whsec_/, '');
        assert.ok(!out.includes(body), `${what}: the secret's base64 appears in the output:\n${out}`);
      }
    }
  });
});

describe('webhooks: latency', () => {
  it('200 changes on the loopback: every event arrives; p50/p99 from the acknowledgement to the arrival', async (t) => {
    const secrets = [newSecret()];
    const r = await receiver({ secrets, label: 'latency' });
    const srv = await startHooked({ urls: [r.url], secrets });
    const W = await apiOk(srv, 'POST', '/api/v1/workspaces', { name: 'latency' }, 201);
    const ws = W.workspace.id;
    await r.waitDelivered(inWs(ws), 1);
    const owner = await T.conn(srv, L.V2_WS, 'owner');
    const fromAck = [];
    const fromSend = [];
    const N = 200;
    // Half through the API (a seat minted, then removed: 201, 204), half through a socket (create: `created`).
    let seat = null;
    for (let i = 0; i < N; i++) {
      const sent = performance.now();
      let pred;
      if (i % 4 === 0) {
        seat = (await apiOk(srv, 'POST', `/api/v1/workspaces/${ws}/attendees`, { name: `seat ${i}` }, 201)).attendee.id;
        const id = seat;
        pred = (q) => typeOf(q) === 'attendee.joined' && q.json.data.attendee.id === id;
      } else if (i % 4 === 1) {
        await apiOk(srv, 'DELETE', `/api/v1/workspaces/${ws}/attendees/${seat}`, undefined, 204);
        const id = seat;
        pred = (q) => typeOf(q) === 'attendee.left' && q.json.data.attendee.id === id;
      } else {
        pred = inWs((await L.create(owner, { name: `lat ${i}` })).workspace.id);
      }
      const acked = performance.now();
      const q = await r.waitFor(pred, { timeout: 5000, what: `the webhook of change #${i}` });
      fromAck.push(q.at - acked);
      fromSend.push(q.at - sent);
    }
    await settled(srv);
    const h = await hookMetrics(srv);
    assert.equal(h.failed, 0);
    assert.equal(r.matching(delivered).length, r.requests.length, 'every try answered 200');
    const q = (xs, p) => {
      const s = [...xs].sort((a, b) => a - b);
      return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
    };
    const f = (x) => `${x.toFixed(2)} ms`;
    const line = `webhook latency over ${N} events (acknowledgement → arrival): p50 ${f(q(fromAck, 50))}, p99 ${f(q(fromAck, 99))}, ` +
      `max ${f(Math.max(...fromAck))}; (request sent → arrival): p50 ${f(q(fromSend, 50))}, p99 ${f(q(fromSend, 99))}`;
    console.log(line);
    t.diagnostic(line);
  });
});
