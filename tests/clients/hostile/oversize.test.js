'use strict';
// A message larger than max_payload_bytes (10 000 here) over polling and over
// WebSocket: the offender is disconnected, everyone else is untouched.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../harness.js');

const VARIANTS = [
  { client: '2.0.4', transport: 'polling' },
  { client: '2.0.4', transport: 'websocket' },
  { client: '4', transport: 'polling' },
  { client: '4', transport: 'websocket' },
];

describe('oversize messages (max_payload_bytes = 10000)', () => {
  let srv;
  const sockets = [];
  let B1;
  let B2;
  let WB;
  let probe = 0;

  async function conn(variant, label) {
    const s = await h.connect(srv.url, variant, label);
    sockets.push(s);
    return s;
  }

  // Bystander pair on both client generations.
  before(async () => {
    srv = await h.startServer({ config: { max_payload_bytes: 10000 } });
    const b1 = await conn({ client: '4', transport: 'websocket' }, 'bystander-1');
    const b2 = await conn({ client: '2.0.4', transport: 'polling' }, 'bystander-2');
    let since = b1.__rec.seq;
    b1.emit('create', { workspace: { name: 'healthy', pin: '1' }, attendee: { name: 'b1' } });
    const c = await h.firstOf(b1, ['created'], { since, timeout: 3000 });
    assert.ok(c, 'created');
    since = b2.__rec.seq;
    b2.emit('attend', { workspace: { token: c.payload.workspace.token, pin: '1' }, attendee: { name: 'b2' } });
    const g = await h.firstOf(b2, ['attendance-granted'], { since, timeout: 3000 });
    assert.ok(g, 'attended');
    B1 = { sock: b1, id: c.payload.attendee.id, token: c.payload.accessToken };
    B2 = { sock: b2, id: g.payload.attendee.id, token: g.payload.accessToken };
    WB = c.payload.workspace;
    h.drain(b1, b2);
  });

  after(async () => {
    for (const s of sockets) h.close(s);
    if (srv) await srv.stop();
  });

  async function bystandersHealthy() {
    const marks = h.mark(B1.sock, B2.sock);
    const n = ++probe;
    for (const [from, to] of [[B1, B2], [B2, B1]]) {
      const since = to.sock.__rec.seq;
      from.sock.emit('negotiation', {
        workspace: { id: WB.id }, attendee: { id: to.id }, broadcaster: { id: from.id }, accessToken: from.token,
        message: { type: 'offer', data: { probe: n } },
      });
      const got = await h.firstOf(to.sock, ['negotiation'], { since, timeout: 1000 });
      assert.ok(got, `${to.sock.__label} got the negotiation within 1 s`);
      assert.equal(got.payload.message.data.probe, n);
    }
    assert.equal((await h.get(`${srv.url}/`)).status, 200, 'GET / answers 200');
    await h.quiet(marks, B1.sock.__rec.entries.concat(B2.sock.__rec.entries).filter((e) => e.event === 'negotiation'));
  }

  for (const variant of VARIANTS) {
    it(`${variant.client}/${variant.transport}: a 20 000-byte event disconnects the offender only`, async () => {
      const offender = await conn(variant, `offender ${variant.client}/${variant.transport}`);
      // Under the limit: answered normally.
      let since = offender.__rec.seq;
      offender.emit('iceservers', { pad: 'a'.repeat(5000) });
      assert.ok(await h.firstOf(offender, ['iceservers'], { since, timeout: 3000 }), 'a 5 000-byte event is served');
      // Over the limit.
      since = offender.__rec.seq;
      offender.emit('iceservers', { pad: 'a'.repeat(20000) });
      let t;
      const reason = await Promise.race([
        offender.__disconnected,
        new Promise((resolve) => { t = setTimeout(() => resolve(null), 5000); }),
      ]);
      clearTimeout(t);
      const answered = offender.__rec.entries.filter((e) => e.seq >= since).map((e) => e.event);
      assert.ok(reason, `the offender must be disconnected within 5 s (it got: ${JSON.stringify(answered)})`);
      assert.ok(!answered.includes('iceservers'), 'the oversize event was not handled');
      srv.assertAlive();
      await bystandersHealthy();
      // The same client may come back (a new connection) and is served.
      const back = await conn(variant, 'offender again');
      since = back.__rec.seq;
      back.emit('iceservers', {});
      assert.ok(await h.firstOf(back, ['iceservers'], { since, timeout: 3000 }), 'a new connection is served');
      h.close(back);
    });
  }

  it('an oversize create over both transports in one burst leaves the store unchanged', async () => {
    const before = await h.readMetric(srv.url, 'wrw_workspaces');
    const offenders = await Promise.all(VARIANTS.map((v) => conn(v, `burst ${v.client}/${v.transport}`)));
    for (const o of offenders) o.emit('create', { workspace: { name: 'n'.repeat(20000) } });
    await Promise.all(offenders.map(async (o) => {
      let t;
      const reason = await Promise.race([o.__disconnected, new Promise((resolve) => { t = setTimeout(() => resolve(null), 5000); })]);
      clearTimeout(t);
      assert.ok(reason, `${o.__label} disconnected`);
    }));
    assert.equal(await h.readMetric(srv.url, 'wrw_workspaces'), before, 'no workspace was created');
    await bystandersHealthy();
  });
});
