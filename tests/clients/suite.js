'use strict';
// The wire-protocol suite, defined once per client variant by the files in test/.
// Spec: docs/PROTOCOL.md.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const E = require('./events');

const { CONFIG, TEXT, ID_RE } = h;
const { SDP_OFFER, SDP_ANSWER, CANDIDATE, clone } = E;
const STUN = 'stun:stun.l.google.com:19302';
const NOARG = Symbol('no payload');
// Well-formed ids (of the configured length) that nobody holds.
const UNKNOWN_WS = h.fakeId('Zz9');
const UNKNOWN_ATT = h.fakeId('Qq1');

const tamperSignature = h.tamper;
const algNone = (token) => h.algNone(h.claimsOf(token));

function jwtClaimsText(token) {
  return Buffer.from(token.split('.')[1] || '', 'base64url').toString('utf8');
}

// Error cases common to every token-checked event, in the check order of docs/PROTOCOL.md § The guard.
// Each: [name, mutate(payload, ctx) -> payload to send (or NOARG), expected alert].
function tokenErrorCases(spec) {
  const S = spec.sender;
  const cases = [];
  const c = (name, mutate, text) => cases.push({ name, mutate, text });
  const set = (obj, key, v) => { obj[key] = v; return obj; };
  const del = (obj, key) => { delete obj[key]; return obj; };

  // 1. payload
  c('no payload at all', () => NOARG, TEXT.PAYLOAD);
  c('null payload', () => null, TEXT.PAYLOAD);
  c('number payload', () => 42, TEXT.PAYLOAD);
  c('string payload', () => 'hello', TEXT.PAYLOAD);
  c('boolean payload', () => true, TEXT.PAYLOAD);
  c('array payload', (p) => [p], TEXT.PAYLOAD);
  // 2. workspace / workspace.id
  c('workspace missing', (p) => del(p, 'workspace'), TEXT.WSID);
  c('workspace null', (p) => set(p, 'workspace', null), TEXT.WSID);
  c('workspace a number', (p) => set(p, 'workspace', 7), TEXT.WSID);
  c('workspace a string (the id)', (p, x) => set(p, 'workspace', x.W.id), TEXT.WSID);
  c('workspace an array', (p, x) => set(p, 'workspace', [{ id: x.W.id }]), TEXT.WSID);
  c('workspace.id missing', (p) => set(p, 'workspace', {}), TEXT.WSID);
  c('workspace.id null', (p) => set(p, 'workspace', { id: null }), TEXT.WSID);
  c('workspace.id a number', (p) => set(p, 'workspace', { id: 1234567890 }), TEXT.WSID);
  c('workspace.id an array', (p, x) => set(p, 'workspace', { id: [x.W.id] }), TEXT.WSID);
  c('workspace.id an object', (p, x) => set(p, 'workspace', { id: { id: x.W.id } }), TEXT.WSID);
  c('workspace.id empty', (p) => set(p, 'workspace', { id: '' }), TEXT.WSID);
  c('workspace.id without underscore', (p, x) => set(p, 'workspace', { id: `${x.W.id.slice(1)}a` }), TEXT.WSID);
  c('workspace.id too short', (p, x) => set(p, 'workspace', { id: x.W.id.slice(0, 10) }), TEXT.WSID);
  c('workspace.id too long', (p, x) => set(p, 'workspace', { id: `${x.W.id}a` }), TEXT.WSID);
  c("workspace.id with '.'", (p) => set(p, 'workspace', { id: '_abcd.efghi' }), TEXT.WSID);
  c("workspace.id with '-'", (p) => set(p, 'workspace', { id: '_abcd-efghi' }), TEXT.WSID);
  c("workspace.id with ':'", (p) => set(p, 'workspace', { id: '_abcd:efghi' }), TEXT.WSID);
  c("workspace.id with '_'", (p) => set(p, 'workspace', { id: '_abcd_efghi' }), TEXT.WSID);
  c('workspace.id with a non-ASCII letter', (p) => set(p, 'workspace', { id: '_abcd\u00e9fghij' }), TEXT.WSID);
  // 3. sender
  c(`${S} missing`, (p) => del(p, S), TEXT.ATTID);
  c(`${S} null`, (p) => set(p, S, null), TEXT.ATTID);
  c(`${S} a number`, (p) => set(p, S, 5), TEXT.ATTID);
  c(`${S} a string (the id)`, (p, x) => set(p, S, x.s.me.id), TEXT.ATTID);
  c(`${S} an array`, (p, x) => set(p, S, [{ id: x.s.me.id }]), TEXT.ATTID);
  c(`${S}.id missing`, (p) => set(p, S, { name: 'x' }), TEXT.ATTID);
  c(`${S}.id null`, (p) => set(p, S, { id: null }), TEXT.ATTID);
  c(`${S}.id a number`, (p) => set(p, S, { id: 42 }), TEXT.ATTID);
  c(`${S}.id an array`, (p, x) => set(p, S, { id: [x.s.me.id] }), TEXT.ATTID);
  c(`${S}.id empty`, (p) => set(p, S, { id: '' }), TEXT.ATTID);
  c(`${S}.id malformed`, (p, x) => set(p, S, { id: `${x.s.me.id.slice(0, 9)}.` }), TEXT.ATTID);
  // 4. accessToken presence/type
  c('accessToken missing', (p) => del(p, 'accessToken'), TEXT.NOACCESS);
  c('accessToken null', (p) => set(p, 'accessToken', null), TEXT.NOACCESS);
  c('accessToken empty', (p) => set(p, 'accessToken', ''), TEXT.NOACCESS);
  c('accessToken a number', (p) => set(p, 'accessToken', 12345), TEXT.NOACCESS);
  c('accessToken an array', (p, x) => set(p, 'accessToken', [x.s.token]), TEXT.NOACCESS);
  c('accessToken an object', (p, x) => set(p, 'accessToken', { token: x.s.token }), TEXT.NOACCESS);
  c('accessToken a boolean', (p) => set(p, 'accessToken', true), TEXT.NOACCESS);
  // 5. accessToken verification and binding
  c('tampered token (one signature character flipped)', (p, x) => set(p, 'accessToken', tamperSignature(x.s.token)), TEXT.BADTOKEN);
  c('token with alg "none" and no signature', (p, x) => set(p, 'accessToken', algNone(x.s.token)), TEXT.BADTOKEN);
  c('garbage token', (p) => set(p, 'accessToken', 'not-a-token'), TEXT.BADTOKEN);
  c('three-segment garbage token', (p) => set(p, 'accessToken', 'aaaa.bbbb.cccc'), TEXT.BADTOKEN);
  c('workspace token used as access token', (p, x) => set(p, 'accessToken', x.W.token), TEXT.BADTOKEN);
  c('token of workspace A (with its attendee id) used on workspace B', (p, x) => {
    p.accessToken = x.other.token;
    p[S] = { ...p[S], id: x.other.me.id };
    return p;
  }, TEXT.BADTOKEN);
  c('token of workspace A used on workspace B with the B attendee id', (p, x) => set(p, 'accessToken', x.other.token), TEXT.BADTOKEN);
  c('token of attendee X claiming attendee Y', (p, x) => {
    p.accessToken = x.s.token;
    p[S] = { ...p[S], id: x.peer.me.id };
    return p;
  }, TEXT.BADTOKEN);
  c("another member's token with the sender's own id", (p, x) => set(p, 'accessToken', x.peer.token), TEXT.BADTOKEN);
  c('own token on a well-formed unknown workspace id', (p) => set(p, 'workspace', { id: UNKNOWN_WS }), TEXT.BADTOKEN);
  // check order
  c('order: bad workspace id beats bad sender and missing token', (p) => {
    p.workspace = { id: 'nope' }; p[S] = null; delete p.accessToken; return p;
  }, TEXT.WSID);
  c('order: bad sender beats missing token', (p) => { p[S] = { id: 3 }; delete p.accessToken; return p; }, TEXT.ATTID);
  c('order: missing token on an unknown workspace', (p) => { p.workspace = { id: UNKNOWN_WS }; delete p.accessToken; return p; }, TEXT.NOACCESS);
  c('order: tampered token on an unknown workspace', (p, x) => {
    p.workspace = { id: UNKNOWN_WS }; p.accessToken = tamperSignature(x.s.token); return p;
  }, TEXT.BADTOKEN);
  return cases;
}

function targetErrorCases(spec) {
  const F = spec.target;
  const cases = [];
  const c = (name, value, text) => cases.push({ name, mutate: (p, x) => { const v = value(x); if (v === undefined) delete p[F]; else p[F] = v; return p; }, text });
  c(`${F} (target) missing`, () => undefined, TEXT.ATTID);
  c(`${F} (target) null`, () => null, TEXT.ATTID);
  c(`${F} (target) a number`, () => 9, TEXT.ATTID);
  c(`${F} (target) a string (the id)`, (x) => x.t.me.id, TEXT.ATTID);
  c(`${F}.id missing`, () => ({ name: 'x' }), TEXT.ATTID);
  c(`${F}.id a number`, () => ({ id: 77 }), TEXT.ATTID);
  c(`${F}.id null`, () => ({ id: null }), TEXT.ATTID);
  c(`${F}.id malformed`, () => ({ id: '_abc.defghi' }), TEXT.ATTID);
  c(`${F}.id well-formed but unknown`, () => ({ id: UNKNOWN_ATT, name: 'ghost' }), TEXT.NOTMEMBER);
  c(`${F} is a member of another workspace`, (x) => ({ id: x.other.me.id, name: x.other.me.name }), TEXT.NOTMEMBER);
  return cases;
}

function messageErrorCases() {
  const cases = [];
  for (const [name, v] of [['missing', undefined], ['null', null], ['a string', 'offer'], ['a number', 1], ['an array', [{ type: 'offer' }]], ['a boolean', false]]) {
    cases.push({
      name: `message ${name}`,
      mutate: (p) => { if (v === undefined) delete p.message; else p.message = v; return p; },
      text: TEXT.MESSAGE,
    });
  }
  return cases;
}

// ---------------------------------------------------------------------------

module.exports = function defineSuite(variant) {
  const title = `socket.io-client ${variant.client} over ${variant.transport}`;

  // The token-checked events, from the server itself (`--list-events`).
  let G = { specs: [], byName: {}, unbuildable: [], unlisted: [], unguardedUnknown: [] };
  let listError = null;
  try {
    G = E.guarded();
  } catch (e) {
    listError = e;
  }
  const EVENTS = E.PAYLOADS;

  describe(title, () => {
    let server;
    // Every pool of this suite; after each test none of their sockets may
    // have been disconnected by the server (clients do not reconnect, except
    // in the reconnect test, which allows its own forced disconnect).
    const pools = [];
    before(async () => { server = await h.startServer(); });
    after(async () => { if (server) await server.stop(); });
    afterEach(() => {
      if (server) server.assertAlive();
      assert.deepEqual(h.takeViolations(), [], 'server events must be 42["name", ONE_ARGUMENT] without acks');
      assert.deepEqual(pools.flatMap((p) => p.unexpectedDisconnects()), [], 'no client may have been disconnected by the server');
    });

    const newPool = (opts) => { const p = new h.Pool(server, variant, opts); pools.push(p); return p; };
    const testPool = (t, opts) => { const p = newPool(opts); t.after(() => p.close()); return p; };

    it('the server lists the events this suite knows, with a payload for each token-checked one', () => {
      if (listError) throw listError;
      assert.deepEqual({ unbuildable: G.unbuildable, unlisted: G.unlisted, unguardedUnknown: G.unguardedUnknown },
        { unbuildable: [], unlisted: [], unguardedUnknown: [] });
      assert.ok(G.specs.length > 0, 'token-checked events');
    });

    // --- fixture helpers -------------------------------------------------
    async function createWs(pool, { pin, name = 'Team Room', avatar = 'team.png', ownerName = 'Olivia', ownerAvatar = 'olivia.png', label = 'owner' } = {}) {
      const sock = await pool.connect(label);
      const workspace = { name, avatar };
      if (pin !== undefined) workspace.pin = pin;
      sock.emit('create', { workspace, attendee: { name: ownerName, avatar: ownerAvatar }, nonce: 'create-1' });
      const c = await h.waitFor(sock, 'created');
      return { sock, W: c.workspace, me: c.attendee, token: c.accessToken, reply: c };
    }

    async function attendWs(pool, W, { name = 'Guest', avatar, pin, others = [], label } = {}) {
      const sock = await pool.connect(label || name);
      const workspace = { token: W.token };
      if (pin !== undefined) workspace.pin = pin;
      sock.emit('attend', { workspace, attendee: { name, avatar: avatar || `${name.toLowerCase()}.png` }, nonce: 'attend-1' });
      const g = await h.waitFor(sock, 'attendance-granted');
      for (const o of others) assert.deepEqual(await h.waitFor(o.sock, 'attend'), g.attendee, `${o.sock.__label} sees the newcomer`);
      return { sock, W: g.workspace, me: g.attendee, token: g.accessToken, reply: g };
    }

    // owner + n members (names Alice, Bob, Carol), every recorded event drained.
    async function fixture(pool, n = 2, { pin, prefix = '' } = {}) {
      const owner = await createWs(pool, { pin, label: `${prefix}owner` });
      const members = [];
      for (const name of ['Alice', 'Bob', 'Carol'].slice(0, n)) {
        members.push(await attendWs(pool, owner.W, { name, pin, others: [owner, ...members], label: `${prefix}${name}` }));
      }
      const all = [owner, ...members];
      h.drain(all.map((m) => m.sock));
      return { W: owner.W, owner, members, all };
    }

    const attendeesMap = (...ms) => Object.fromEntries(ms.map((m) => [m.me.id, { ...m.me }]));

    // Emits, expects exactly one alert (or other event) on the sender, and that
    // every socket in `bystanders` got nothing.
    async function expectRejected(sender, event, payload, expected, bystanders) {
      const socks = [sender.sock, ...bystanders.map((b) => b.sock)];
      const m = h.mark(socks);
      if (payload === NOARG) sender.sock.emit(event); else sender.sock.emit(event, payload);
      const r = await h.nextEntry(sender.sock, null, { since: m.get(sender.sock) });
      if (typeof expected === 'string') assert.deepEqual([r.event, r.payload], ['alert', expected]);
      else assert.deepEqual([r.event, r.payload], expected);
      await h.quiet(m, [r]);
    }

    // A grant's `workspace.token` must be the invite that works: a new socket
    // attends W with it (with `pin`; on a PIN workspace a wrong PIN is refused).
    async function assertInvite(pool, token, W, { pin, others = [] } = {}) {
      assert.equal(typeof token, 'string');
      h.drain(others.map((o) => o.sock));
      if (pin !== undefined) {
        const probe = { sock: await pool.connect('invite-probe') };
        await expectRejected(probe, 'attend', { workspace: { token, pin: `${pin}0` }, attendee: { name: 'Probe' } }, TEXT.PIN, others);
      }
      const n = await attendWs(pool, { ...W, token }, { name: 'Invited', pin, others, label: 'invited' });
      assert.equal(n.W.id, W.id, "the grant's workspace.token attends the same workspace");
      return n;
    }

    async function listAttendees(member) {
      const since = member.sock.__rec.seq;
      member.sock.emit('attendees', { workspace: { id: member.W.id }, attendee: { id: member.me.id }, accessToken: member.token });
      return h.waitFor(member.sock, 'attendees', { since });
    }

    // --- iceservers --------------------------------------------------------
    describe('iceservers', () => {
      for (const [name, args] of [['{}', [{}]], ['no payload', []], ['a number payload', [5]]]) {
        it(`replies with STUN servers to ${name}`, async (t) => {
          const pool = testPool(t);
          const s = await pool.connect('ice');
          s.emit('iceservers', ...args);
          const r = await h.waitFor(s, 'iceservers');
          assert.ok(Array.isArray(r) && r.length > 0, `array expected, got ${JSON.stringify(r)}`);
          for (const e of r) {
            assert.ok(e && typeof e === 'object' && !Array.isArray(e), `entry must be an object: ${JSON.stringify(e)}`);
            assert.ok('urls' in e, `entry lacks urls: ${JSON.stringify(e)}`);
            assert.ok('url' in e, `entry lacks url: ${JSON.stringify(e)}`);
            for (const u of [].concat(e.urls, e.url)) assert.equal(typeof u, 'string');
          }
          assert.ok(r.some((e) => [].concat(e.urls).includes(STUN)), `urls must include ${STUN}: ${JSON.stringify(r)}`);
          assert.ok(r.some((e) => [].concat(e.url).includes(STUN)), `url must include ${STUN}: ${JSON.stringify(r)}`);
        });
      }

      // The library emits `iceservers` the moment it is connected; an event
      // that arrives before the server has set the socket up must not be lost.
      it('answers an event emitted right on connect, on each of 400 fresh connections', async (t) => {
        const pool = testPool(t);
        const lost = [];
        for (let i = 0; i < 400; i++) {
          const s = await pool.connect(`fresh${i}`);
          s.emit('iceservers', {});
          try {
            await h.waitFor(s, 'iceservers', 1000);
          } catch (e) {
            lost.push(`#${i} sid ${s.id}`);
          }
          if (i % 3 !== 0) h.close(s);
        }
        assert.deepEqual(lost, [], `${lost.length} of 400 first events (emitted on 'connect') got no reply within 1 s`);
      });
    });

    // --- create ------------------------------------------------------------
    describe('create', () => {
      it('replies created with the exact shape', async (t) => {
        const pool = testPool(t);
        const s = await pool.connect('creator');
        const before = Date.now();
        s.emit('create', { workspace: { name: 'Design Review', pin: '', avatar: 'dr.png' }, attendee: { name: 'Olivia', avatar: 'o.png' }, nonce: 'n-42' });
        const c = await h.waitFor(s, 'created');
        const afterT = Date.now();
        assert.ok(c && typeof c === 'object');
        assert.deepEqual(c, {
          workspace: { id: c.workspace.id, name: 'Design Review', avatar: 'dr.png', owner: c.attendee.id, created: c.workspace.created, token: c.workspace.token },
          attendee: { id: c.attendee.id, name: 'Olivia', avatar: 'o.png' },
          accessToken: c.accessToken,
          nonce: 'n-42',
        });
        assert.match(c.workspace.id, ID_RE);
        assert.match(c.attendee.id, ID_RE);
        assert.notEqual(c.workspace.id, c.attendee.id);
        assert.equal(typeof c.workspace.created, 'number');
        assert.ok(c.workspace.created >= before - 5000 && c.workspace.created <= afterT + 5000, `created ${c.workspace.created} not near now`);
        assert.equal(typeof c.workspace.token, 'string');
        assert.ok(c.workspace.token.length > 0);
        assert.equal(typeof c.accessToken, 'string');
        assert.ok(c.accessToken.length > 0);
        assert.notEqual(c.accessToken, c.workspace.token);
        // the owner is in the room and can use its token
        assert.deepEqual(await listAttendees({ sock: s, W: c.workspace, me: c.attendee, token: c.accessToken }), { attendees: { [c.attendee.id]: c.attendee } });
      });

      it('never sends the PIN back, not even inside the tokens', async (t) => {
        const pool = testPool(t);
        const o = await createWs(pool, { pin: 'pin739155' });
        assert.equal(h.findKeyDeep(o.reply, 'pin'), null);
        assert.ok(!JSON.stringify(o.reply).includes('pin739155'));
        for (const tok of [o.W.token, o.token]) assert.ok(!jwtClaimsText(tok).includes('pin739155'), 'PIN in clear inside a token');
      });

      it("echoes '' when there is no nonce, and any JSON nonce as given", async (t) => {
        const pool = testPool(t);
        const s = await pool.connect('creator');
        s.emit('create', { workspace: { name: 'A' }, attendee: { name: 'B' } });
        assert.equal((await h.waitFor(s, 'created')).nonce, '');
        s.emit('create', { workspace: { name: 'A' }, attendee: { name: 'B' }, nonce: { k: [1, 'two'] } });
        assert.deepEqual((await h.waitFor(s, 'created')).nonce, { k: [1, 'two'] });
        s.emit('create', { workspace: { name: 'A' }, attendee: { name: 'B' }, nonce: 17 });
        assert.equal((await h.waitFor(s, 'created')).nonce, 17);
      });

      it('uses the config defaults for missing, empty and null names and avatars', async (t) => {
        const pool = testPool(t);
        const s = await pool.connect('creator');
        const defaults = {
          ws: { name: CONFIG.untitled_workspace, avatar: CONFIG.default_workspace_avatar },
          att: { name: CONFIG.anonymous_attendee, avatar: CONFIG.default_attendee_avatar },
        };
        const payloads = [
          { workspace: { name: '', avatar: '' }, attendee: { name: '', avatar: '' } },
          { workspace: {}, attendee: {} },
          { workspace: { name: null, avatar: null }, attendee: { name: null, avatar: null } },
          {},
        ];
        for (const p of payloads) {
          s.emit('create', p);
          const c = await h.waitFor(s, 'created');
          assert.deepEqual(
            { wn: c.workspace.name, wa: c.workspace.avatar, an: c.attendee.name, aa: c.attendee.avatar },
            { wn: defaults.ws.name, wa: defaults.ws.avatar, an: defaults.att.name, aa: defaults.att.avatar },
            `payload ${JSON.stringify(p)}`,
          );
          assert.deepEqual(Object.keys(c.workspace).sort(), ['avatar', 'created', 'id', 'name', 'owner', 'token']);
          assert.deepEqual(Object.keys(c.attendee).sort(), ['avatar', 'id', 'name']);
          assert.equal(c.nonce, '');
        }
      });

      it('ignores client-chosen ids and makes distinct ids', async (t) => {
        const pool = testPool(t);
        const first = await createWs(pool);
        first.sock.emit('create', { workspace: { id: first.W.id, name: 'Takeover' }, attendee: { id: first.me.id, name: 'Mallory' } });
        const c = await h.waitFor(first.sock, 'created');
        assert.match(c.workspace.id, ID_RE);
        assert.match(c.attendee.id, ID_RE);
        assert.notEqual(c.workspace.id, first.W.id);
        assert.notEqual(c.attendee.id, first.me.id);
        // the first workspace is untouched
        assert.deepEqual(await listAttendees(first), { attendees: attendeesMap(first) });
      });

      describe('rejects malformed input with an alert, bystanders get nothing', () => {
        let pool; let f; let attacker;
        before(async () => {
          pool = newPool();
          f = await fixture(pool, 1);
          attacker = { sock: await pool.connect('attacker') };
        });
        after(() => pool.close());
        const valid = () => ({ workspace: { name: 'X', avatar: 'x.png', pin: '1' }, attendee: { name: 'Y', avatar: 'y.png' }, nonce: 'z' });
        const cases = [
          ['no payload at all', () => NOARG, TEXT.PAYLOAD],
          ['null payload', () => null, TEXT.PAYLOAD],
          ['number payload', () => 3, TEXT.PAYLOAD],
          ['string payload', () => 'create', TEXT.PAYLOAD],
          ['array payload', (p) => [p], TEXT.PAYLOAD],
          ['workspace a number', (p) => ({ ...p, workspace: 5 }), TEXT.WSOBJ],
          ['workspace a string', (p) => ({ ...p, workspace: 'room' }), TEXT.WSOBJ],
          ['workspace an array', (p) => ({ ...p, workspace: [p.workspace] }), TEXT.WSOBJ],
          ['attendee a number', (p) => ({ ...p, attendee: 5 }), TEXT.ATTOBJ],
          ['attendee a string', (p) => ({ ...p, attendee: 'me' }), TEXT.ATTOBJ],
          ['attendee an array', (p) => ({ ...p, attendee: [p.attendee] }), TEXT.ATTOBJ],
          ['workspace.name a number', (p) => { p.workspace.name = 5; return p; }, TEXT.str('workspace.name')],
          ['workspace.name an array', (p) => { p.workspace.name = ['a']; return p; }, TEXT.str('workspace.name')],
          ['workspace.name an object', (p) => { p.workspace.name = { a: 1 }; return p; }, TEXT.str('workspace.name')],
          ['workspace.avatar a number', (p) => { p.workspace.avatar = 1; return p; }, TEXT.str('workspace.avatar')],
          ['workspace.avatar a boolean', (p) => { p.workspace.avatar = true; return p; }, TEXT.str('workspace.avatar')],
          ['attendee.name a number', (p) => { p.attendee.name = 7; return p; }, TEXT.str('attendee.name')],
          ['attendee.name an array', (p) => { p.attendee.name = []; return p; }, TEXT.str('attendee.name')],
          ['attendee.avatar an object', (p) => { p.attendee.avatar = {}; return p; }, TEXT.str('attendee.avatar')],
          ['workspace.pin a boolean', (p) => { p.workspace.pin = true; return p; }, TEXT.str('workspace.pin')],
          ['workspace.pin an array', (p) => { p.workspace.pin = ['1']; return p; }, TEXT.str('workspace.pin')],
          ['workspace.pin an object', (p) => { p.workspace.pin = { pin: '1' }; return p; }, TEXT.str('workspace.pin')],
        ];
        for (const [name, mutate, text] of cases) {
          it(name, async () => {
            await expectRejected(attacker, 'create', mutate(valid()), text, f.all);
          });
        }
        it('nothing was created or changed', async () => {
          assert.deepEqual(await listAttendees(f.owner), { attendees: attendeesMap(...f.all) });
        });
      });
    });

    // --- attend ------------------------------------------------------------
    describe('attend', () => {
      it('grants attendance with the exact shape; the room gets attend, the sender does not', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 1);
        const n = await pool.connect('newcomer');
        const m = h.mark(f.owner.sock, f.members[0].sock, n);
        n.emit('attend', { workspace: { token: f.W.token }, attendee: { name: 'Nina', avatar: 'nina.png' }, nonce: 'att-9' });
        const g = await h.nextEntry(n, 'attendance-granted', { since: m.get(n) });
        const r = g.payload;
        assert.match(r.attendee.id, ID_RE);
        const newcomer = { id: r.attendee.id, name: 'Nina', avatar: 'nina.png' };
        assert.deepEqual(r, {
          workspace: { id: f.W.id, name: f.W.name, avatar: f.W.avatar, owner: f.owner.me.id, created: f.W.created, token: r.workspace.token, call: null },
          attendee: newcomer,
          attendees: { ...attendeesMap(...f.all), [newcomer.id]: newcomer },
          accessToken: r.accessToken,
          nonce: 'att-9',
        });
        assert.equal(typeof r.workspace.token, 'string');
        assert.ok(r.workspace.token.length > 0);
        assert.equal(typeof r.accessToken, 'string');
        assert.ok(r.accessToken.length > 0);
        assert.ok(!Object.values(f.all).some((x) => x.me.id === newcomer.id), 'fresh id');
        const seen = [];
        for (const x of f.all) {
          const e = await h.nextEntry(x.sock, 'attend', { since: m.get(x.sock) });
          assert.deepEqual(e.payload, newcomer, `${x.sock.__label} gets attend with the bare attendee`);
          seen.push(e);
        }
        await h.quiet(m, [g, ...seen]);
        // the newcomer is in the room: it receives what the room receives
        const nm = { sock: n, W: r.workspace, me: r.attendee, token: r.accessToken };
        const m2 = h.mark(n, f.owner.sock);
        const alice = f.members[0];
        alice.sock.emit('mic-toggle', { workspace: { id: f.W.id }, attendee: alice.me, state: true, accessToken: alice.token });
        assert.deepEqual(await h.waitFor(n, 'mic-toggle', { since: m2.get(n) }), { attendee: alice.me, state: true });
        assert.deepEqual(await h.waitFor(f.owner.sock, 'mic-toggle', { since: m2.get(f.owner.sock) }), { attendee: alice.me, state: true });
        assert.deepEqual(await listAttendees(nm), { attendees: { ...attendeesMap(...f.all), [newcomer.id]: newcomer } });
        // its workspace.token is the invite: it attends
        await assertInvite(pool, r.workspace.token, f.W, { others: [...f.all, nm] });
      });

      it("echoes '' when there is no nonce, and uses the attendee defaults", async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 0);
        const n = await pool.connect('newcomer');
        n.emit('attend', { workspace: { token: f.W.token } });
        const r = await h.waitFor(n, 'attendance-granted');
        assert.equal(r.nonce, '');
        assert.deepEqual(r.attendee, { id: r.attendee.id, name: CONFIG.anonymous_attendee, avatar: CONFIG.default_attendee_avatar });
        const n2 = await pool.connect('newcomer2');
        n2.emit('attend', { workspace: { token: f.W.token, pin: '' }, attendee: { name: '', avatar: null }, nonce: 0 });
        const r2 = await h.waitFor(n2, 'attendance-granted');
        assert.equal(r2.nonce, 0);
        assert.deepEqual(r2.attendee, { id: r2.attendee.id, name: CONFIG.anonymous_attendee, avatar: CONFIG.default_attendee_avatar });
      });

      it('grants attendance with the right PIN (string, or the same number)', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 1, { pin: '4321' });
        const n = await attendWs(pool, f.W, { name: 'Numeric', pin: 4321, others: f.all });
        assert.deepEqual(Object.keys(n.reply.attendees).sort(), [...f.all.map((x) => x.me.id), n.me.id].sort());
        // the grant's workspace.token is the PIN-protected invite
        await assertInvite(pool, n.reply.workspace.token, f.W, { pin: '4321', others: [...f.all, n] });
        // a workspace created with a numeric PIN accepts its decimal string
        const o2 = await createWs(pool, { pin: 2468, label: 'owner2' });
        await attendWs(pool, o2.W, { name: 'Stringy', pin: '2468', others: [o2] });
      });

      describe('refusals (bystanders get nothing)', () => {
        let pool; let f; let plain; let attacker;
        before(async () => {
          pool = newPool();
          f = await fixture(pool, 1, { pin: '4321', prefix: 'pin-' });
          plain = await fixture(pool, 1, { prefix: 'plain-' });
          attacker = { sock: await pool.connect('attacker') };
        });
        after(() => pool.close());
        const by = () => [...f.all, ...plain.all];
        const att = (workspace, extra = {}) => ({ workspace, attendee: { name: 'Eve', avatar: 'eve.png' }, nonce: 'e', ...extra });

        it('wrong PIN', async () => expectRejected(attacker, 'attend', att({ token: f.W.token, pin: '0000' }), TEXT.PIN, by()));
        it('missing PIN on a PIN workspace', async () => expectRejected(attacker, 'attend', att({ token: f.W.token }), TEXT.PIN, by()));
        it('empty PIN on a PIN workspace', async () => expectRejected(attacker, 'attend', att({ token: f.W.token, pin: '' }), TEXT.PIN, by()));
        it('PIN given to a PIN-less workspace', async () => expectRejected(attacker, 'attend', att({ token: plain.W.token, pin: '1234' }), TEXT.PIN, by()));
        it('missing workspace token', async () => expectRejected(attacker, 'attend', att({ pin: '4321' }), TEXT.WSTOKEN, by()));
        it('no workspace at all', async () => expectRejected(attacker, 'attend', { attendee: { name: 'Eve' } }, TEXT.WSTOKEN, by()));
        it('empty workspace token', async () => expectRejected(attacker, 'attend', att({ token: '' }), TEXT.WSTOKEN, by()));
        it('null workspace token', async () => expectRejected(attacker, 'attend', att({ token: null }), TEXT.WSTOKEN, by()));
        it('numeric workspace token', async () => expectRejected(attacker, 'attend', att({ token: 123 }), TEXT.WSTOKEN, by()));
        it('array workspace token', async () => expectRejected(attacker, 'attend', att({ token: [plain.W.token] }), TEXT.WSTOKEN, by()));
        it('garbage workspace token', async () => expectRejected(attacker, 'attend', att({ token: 'garbage' }), TEXT.PIN, by()));
        it('tampered workspace token', async () => expectRejected(attacker, 'attend', att({ token: tamperSignature(plain.W.token) }), TEXT.PIN, by()));
        it('alg "none" workspace token', async () => expectRejected(attacker, 'attend', att({ token: algNone(plain.W.token) }), TEXT.PIN, by()));
        it('an access token used as workspace token', async () => expectRejected(attacker, 'attend', att({ token: plain.owner.token }), TEXT.PIN, by()));
        it('no payload at all', async () => expectRejected(attacker, 'attend', NOARG, TEXT.PAYLOAD, by()));
        it('null payload', async () => expectRejected(attacker, 'attend', null, TEXT.PAYLOAD, by()));
        it('string payload', async () => expectRejected(attacker, 'attend', plain.W.token, TEXT.PAYLOAD, by()));
        it('array payload', async () => expectRejected(attacker, 'attend', [att({ token: plain.W.token })], TEXT.PAYLOAD, by()));
        it('workspace a string', async () => expectRejected(attacker, 'attend', att(plain.W.token), TEXT.WSOBJ, by()));
        it('workspace an array', async () => expectRejected(attacker, 'attend', att([{ token: plain.W.token }]), TEXT.WSOBJ, by()));
        it('attendee a string', async () => expectRejected(attacker, 'attend', att({ token: plain.W.token }, { attendee: 'Eve' }), TEXT.ATTOBJ, by()));
        it('attendee.name a number', async () => expectRejected(attacker, 'attend', att({ token: plain.W.token }, { attendee: { name: 1 } }), TEXT.str('attendee.name'), by()));
        it('attendee.avatar an array', async () => expectRejected(attacker, 'attend', att({ token: plain.W.token }, { attendee: { avatar: ['x'] } }), TEXT.str('attendee.avatar'), by()));
        it('workspace.pin a boolean', async () => expectRejected(attacker, 'attend', att({ token: f.W.token, pin: true }), TEXT.str('workspace.pin'), by()));
        it('workspace.pin an object', async () => expectRejected(attacker, 'attend', att({ token: f.W.token, pin: { pin: '4321' } }), TEXT.str('workspace.pin'), by()));
        it('nobody was added', async () => {
          assert.deepEqual(await listAttendees(f.owner), { attendees: attendeesMap(...f.all) });
          assert.deepEqual(await listAttendees(plain.owner), { attendees: attendeesMap(...plain.all) });
        });
      });

      it('a destroyed workspace answers destroyed {}', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 1);
        f.owner.sock.emit('destroy', { workspace: { id: f.W.id }, attendee: { id: f.owner.me.id }, accessToken: f.owner.token });
        for (const x of f.all) assert.deepEqual(await h.waitFor(x.sock, 'destroyed'), {});
        const n = { sock: await pool.connect('late') };
        await expectRejected(n, 'attend', { workspace: { token: f.W.token }, attendee: { name: 'Late' } }, ['destroyed', {}], f.all);
      });

      it('a full workspace (capacity 4 incl. owner) answers full {}', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 3);
        assert.equal(Object.keys(f.members[2].reply.attendees).length, 4);
        const n = { sock: await pool.connect('fifth') };
        await expectRejected(n, 'attend', { workspace: { token: f.W.token }, attendee: { name: 'Fifth' }, nonce: 'x' }, ['full', {}], f.all);
        assert.deepEqual(await listAttendees(f.owner), { attendees: attendeesMap(...f.all) });
      });

      it('race for the last seat: 8 simultaneous attends, exactly one wins', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 2);
        const racers = await Promise.all(Array.from({ length: 8 }, (_, i) => pool.connect(`racer${i}`)));
        const m = h.mark([...f.all.map((x) => x.sock), ...racers]);
        for (const [i, r] of racers.entries()) r.emit('attend', { workspace: { token: f.W.token }, attendee: { name: `Racer${i}` }, nonce: i });
        const results = await Promise.all(racers.map((r) => h.nextEntry(r, null, { since: m.get(r) })));
        const granted = results.filter((e) => e.event === 'attendance-granted');
        const full = results.filter((e) => e.event === 'full');
        assert.deepEqual([granted.length, full.length], [1, 7], `results: ${JSON.stringify(results.map((e) => [e.event, e.payload]))}`);
        for (const e of full) assert.deepEqual(e.payload, {});
        const winner = granted[0].payload;
        assert.equal(Object.keys(winner.attendees).length, 4);
        const seen = [];
        for (const x of f.all) {
          const e = await h.nextEntry(x.sock, 'attend', { since: m.get(x.sock) });
          assert.deepEqual(e.payload, winner.attendee);
          seen.push(e);
        }
        await h.quiet(m, [...results, ...seen]);
        const list = await listAttendees(f.owner);
        assert.deepEqual(list, { attendees: { ...attendeesMap(...f.all), [winner.attendee.id]: winner.attendee } });
      });
    });

    // --- re-attend -----------------------------------------------------------
    describe('re-attend', () => {
      it('from a new socket with the stored session: exact re-attendance-granted, room gets attend', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 2);
        const [alice, bob] = f.members;
        h.close(bob.sock); // page reload
        const fresh = await pool.connect('bob-reloaded');
        const m = h.mark(fresh, f.owner.sock, alice.sock);
        fresh.emit('re-attend', { workspace: { ...bob.W }, attendee: { ...bob.me }, accessToken: bob.token });
        const g = await h.nextEntry(fresh, 're-attendance-granted', { since: m.get(fresh) });
        const r = g.payload;
        assert.equal(h.findKeyDeep(r, 'socket'), null, 'no socket field anywhere');
        assert.deepEqual(r, {
          workspace: { id: f.W.id, name: f.W.name, avatar: f.W.avatar, owner: f.owner.me.id, created: f.W.created, token: r.workspace.token },
          attendee: bob.me,
          attendees: attendeesMap(...f.all),
          accessToken: r.accessToken,
          nonce: '',
          call: null,
        });
        assert.equal(typeof r.workspace.token, 'string');
        assert.equal(typeof r.accessToken, 'string');
        assert.ok(r.accessToken.length > 0);
        const seen = [];
        for (const x of [f.owner, alice]) {
          const e = await h.nextEntry(x.sock, 'attend', { since: m.get(x.sock) });
          assert.deepEqual(e.payload, bob.me);
          assert.equal(h.findKeyDeep(e.payload, 'socket'), null);
          seen.push(e);
        }
        await h.quiet(m, [g, ...seen]);
        // messages addressed to Bob reach the new socket; the room reaches it too
        const m2 = h.mark(fresh);
        const msg = { type: 'offer', data: { type: 'offer', sdp: SDP_OFFER } };
        alice.sock.emit('negotiation', { workspace: { id: f.W.id }, attendee: { id: bob.me.id }, broadcaster: { id: alice.me.id }, accessToken: alice.token, message: msg });
        assert.deepEqual(await h.waitFor(fresh, 'negotiation', { since: m2.get(fresh) }), { attendee: { id: alice.me.id }, message: msg });
        f.owner.sock.emit('cam-toggle', { workspace: { id: f.W.id }, attendee: f.owner.me, state: false, accessToken: f.owner.token });
        assert.deepEqual(await h.waitFor(fresh, 'cam-toggle', { since: m2.get(fresh) }), { attendee: f.owner.me, state: false });
        // the token it got back works
        assert.deepEqual(await listAttendees({ sock: fresh, W: f.W, me: bob.me, token: r.accessToken }), { attendees: attendeesMap(...f.all) });
        // and its workspace.token is the invite: it attends
        await assertInvite(pool, r.workspace.token, f.W, { others: [f.owner, alice, { sock: fresh }] });
      });

      it('returns the call stored by ring (workspace.call), null again after hangup', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 2);
        const [alice, bob] = f.members;
        const storedCall = { id: 'call-42', kind: 'video' };
        const ringWs = { ...alice.W, call: storedCall };
        const ring = { workspace: ringWs, attendee: alice.me, accessToken: alice.token, call: { id: 'call-42' }, callee: { id: bob.me.id }, offer: { type: 'offer', sdp: SDP_OFFER }, nonce: 'r' };
        alice.sock.emit('ring', ring);
        assert.deepEqual(await h.waitFor(bob.sock, 'ring'), { workspace: ringWs, caller: alice.me, offer: ring.offer, call: ring.call, nonce: 'r' });
        const reattend = async (label) => {
          const s = await pool.connect(label);
          s.emit('re-attend', { workspace: { id: f.W.id }, attendee: { ...bob.me }, accessToken: bob.token });
          return (await h.waitFor(s, 're-attendance-granted')).call;
        };
        assert.deepEqual(await reattend('bob2'), storedCall);
        alice.sock.emit('hangup', { workspace: { id: f.W.id }, attendee: alice.me, call: { id: 'call-42' }, accessToken: alice.token });
        await h.waitFor(f.owner.sock, 'hangup');
        assert.equal(await reattend('bob3'), null);
      });
    });

    // --- attendees -----------------------------------------------------------
    describe('attendees', () => {
      it('replies {attendees:{id→attendee}} exactly, to the sender only', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 2);
        const [alice, bob] = f.members;
        const m = h.mark(f.all.map((x) => x.sock));
        alice.sock.emit('attendees', { workspace: { id: f.W.id }, attendee: { id: alice.me.id }, accessToken: alice.token });
        const e = await h.nextEntry(alice.sock, null, { since: m.get(alice.sock) });
        assert.deepEqual([e.event, e.payload], ['attendees', { attendees: attendeesMap(f.owner, alice, bob) }]);
        await h.quiet(m, [e]);
      });
    });

    // --- leave ---------------------------------------------------------------
    describe('leave', () => {
      it('a non-owner leaves: the room gets leave, the lists drop it, its token stops working', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 2);
        const [alice, bob] = f.members;
        const m = h.mark(f.all.map((x) => x.sock));
        alice.sock.emit('leave', { workspace: { id: f.W.id }, attendee: { ...alice.me }, accessToken: alice.token });
        const seen = [];
        for (const x of [f.owner, bob]) {
          const e = await h.nextEntry(x.sock, 'leave', { since: m.get(x.sock) });
          assert.deepEqual(e.payload, alice.me);
          seen.push(e);
        }
        await h.quiet(m, seen);
        assert.deepEqual(await listAttendees(f.owner), { attendees: attendeesMap(f.owner, bob) });
        assert.deepEqual(await listAttendees(bob), { attendees: attendeesMap(f.owner, bob) });
        // its socket left the room
        const m2 = h.mark(f.all.map((x) => x.sock));
        bob.sock.emit('mic-toggle', { workspace: { id: f.W.id }, attendee: bob.me, state: true, accessToken: bob.token });
        const e2 = await h.nextEntry(f.owner.sock, 'mic-toggle', { since: m2.get(f.owner.sock) });
        await h.quiet(m2, [e2]);
        // the old token is refused for every token-checked event, re-attend included
        for (const { name: ev } of G.specs) {
          const p = EVENTS[ev].build({ W: f.W, s: alice, t: bob });
          await t.test(`old token on ${ev}`, () => expectRejected(alice, ev, p, TEXT.NOACCESS, [f.owner, bob]));
        }
        const fresh = { sock: await pool.connect('alice-reloaded') };
        await expectRejected(fresh, 're-attend', EVENTS['re-attend'].build({ W: f.W, s: alice }), TEXT.NOACCESS, [f.owner, bob]);
        assert.deepEqual(await listAttendees(f.owner), { attendees: attendeesMap(f.owner, bob) });
      });

      it('the owner may not leave', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 1);
        await expectRejected(f.owner, 'leave', { workspace: { id: f.W.id }, attendee: { ...f.owner.me }, accessToken: f.owner.token }, TEXT.OWNERLEAVE, f.members);
        assert.deepEqual(await listAttendees(f.members[0]), { attendees: attendeesMap(...f.all) });
      });
    });

    // --- kick ----------------------------------------------------------------
    describe('kick', () => {
      it('the owner kicks: sender and room (kicked included) get kicked {id,name}; the token stops working', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 2);
        const [alice, bob] = f.members;
        const m = h.mark(f.all.map((x) => x.sock));
        const kicked = { id: bob.me.id, name: bob.me.name };
        f.owner.sock.emit('kick', { workspace: { id: f.W.id }, attendee: { id: f.owner.me.id }, kickedAttendee: kicked, accessToken: f.owner.token });
        const seen = [];
        for (const x of f.all) {
          const e = await h.nextEntry(x.sock, 'kicked', { since: m.get(x.sock) });
          assert.deepEqual(e.payload, kicked, `${x.sock.__label} gets kicked`);
          seen.push(e);
        }
        await h.quiet(m, seen);
        assert.deepEqual(await listAttendees(f.owner), { attendees: attendeesMap(f.owner, alice) });
        // the kicked socket left the room
        const m2 = h.mark(f.all.map((x) => x.sock));
        alice.sock.emit('cam-toggle', { workspace: { id: f.W.id }, attendee: alice.me, state: false, accessToken: alice.token });
        const e2 = await h.nextEntry(f.owner.sock, 'cam-toggle', { since: m2.get(f.owner.sock) });
        await h.quiet(m2, [e2]);
        // old token refused, re-attend too
        await expectRejected(bob, 'attendees', EVENTS.attendees.build({ W: f.W, s: bob }), TEXT.NOACCESS, [f.owner, alice]);
        await expectRejected(bob, 'negotiation', EVENTS.negotiation.build({ W: f.W, s: bob, t: alice }), TEXT.NOACCESS, [f.owner, alice]);
        const fresh = { sock: await pool.connect('bob-reloaded') };
        await expectRejected(fresh, 're-attend', EVENTS['re-attend'].build({ W: f.W, s: bob }), TEXT.NOACCESS, [f.owner, alice]);
        // it may attend again with the workspace token
        const again = await attendWs(pool, f.W, { name: 'Bob', others: [f.owner, alice], label: 'bob-again' });
        assert.notEqual(again.me.id, bob.me.id);
      });

      it('a non-owner may not kick', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 2);
        const [alice, bob] = f.members;
        await expectRejected(alice, 'kick', EVENTS.kick.build({ W: f.W, s: alice, t: bob }), TEXT.UNAUTH, [f.owner, bob]);
        await expectRejected(alice, 'kick', EVENTS.kick.build({ W: f.W, s: alice, t: f.owner }), TEXT.UNAUTH, [f.owner, bob]);
        assert.deepEqual(await listAttendees(f.owner), { attendees: attendeesMap(...f.all) });
      });

      it('the owner cannot be kicked', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 1);
        await expectRejected(f.owner, 'kick', EVENTS.kick.build({ W: f.W, s: f.owner, t: f.owner }), TEXT.OWNERKICK, f.members);
        assert.deepEqual(await listAttendees(f.owner), { attendees: attendeesMap(...f.all) });
      });
    });

    // --- destroy -------------------------------------------------------------
    describe('destroy', () => {
      it('the owner destroys: every member incl. the sender gets destroyed {}; later events get destroyed {}', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 2);
        const [alice, bob] = f.members;
        const other = await fixture(pool, 1, { prefix: 'other-' });
        const m = h.mark([...f.all, ...other.all].map((x) => x.sock));
        f.owner.sock.emit('destroy', { workspace: { id: f.W.id }, attendee: { id: f.owner.me.id }, accessToken: f.owner.token });
        const seen = [];
        for (const x of f.all) {
          const e = await h.nextEntry(x.sock, 'destroyed', { since: m.get(x.sock) });
          assert.deepEqual(e.payload, {}, `${x.sock.__label} gets destroyed {}`);
          seen.push(e);
        }
        await h.quiet(m, seen);
        for (const { name: ev } of G.specs) {
          await t.test(`owner's ${ev} afterwards -> destroyed {}`, () => expectRejected(f.owner, ev, EVENTS[ev].build({ W: f.W, s: f.owner, t: alice }), ['destroyed', {}], [alice, bob, ...other.all]));
        }
        await expectRejected(alice, 'attendees', EVENTS.attendees.build({ W: f.W, s: alice }), ['destroyed', {}], [f.owner, bob]);
        await expectRejected(bob, 'ring', EVENTS.ring.build({ W: f.W, s: bob, t: alice }), ['destroyed', {}], [f.owner, alice]);
        const late = { sock: await pool.connect('late') };
        await expectRejected(late, 'attend', { workspace: { token: f.W.token }, attendee: { name: 'Late' } }, ['destroyed', {}], [...f.all, ...other.all]);
        // other workspaces are unaffected
        assert.deepEqual(await listAttendees(other.members[0]), { attendees: attendeesMap(...other.all) });
      });

      it('a non-owner may not destroy, and the workspace keeps working', async (t) => {
        const pool = testPool(t);
        const f = await fixture(pool, 2);
        const [alice, bob] = f.members;
        await expectRejected(alice, 'destroy', EVENTS.destroy.build({ W: f.W, s: alice }), TEXT.UNAUTH, [f.owner, bob]);
        assert.deepEqual(await listAttendees(bob), { attendees: attendeesMap(...f.all) });
        const m = h.mark(f.all.map((x) => x.sock));
        alice.sock.emit('mic-toggle', EVENTS['mic-toggle'].build({ W: f.W, s: alice }));
        const seen = [];
        for (const x of [f.owner, bob]) seen.push(await h.nextEntry(x.sock, 'mic-toggle', { since: m.get(x.sock) }));
        for (const e of seen) assert.deepEqual(e.payload, { attendee: alice.me, state: false });
        await h.quiet(m, seen);
        const n = await attendWs(pool, f.W, { name: 'Dave', others: f.all });
        assert.equal(Object.keys(n.reply.attendees).length, 4);
      });
    });

    // --- calls ---------------------------------------------------------------
    describe('calls (forwarded as sent)', () => {
      let pool; let f; let alice; let bob; let sentWs;
      before(async () => {
        pool = newPool();
        f = await fixture(pool, 2);
        [alice, bob] = f.members;
        sentWs = { ...alice.W, call: null, extra: { note: 'passes through' } };
      });
      after(() => pool.close());

      // emits from `from`, expects `event` with `payload` on each of `to`, nothing else anywhere
      async function forwards(from, event, sent, to, expected) {
        const m = h.mark(f.all.map((x) => x.sock));
        from.sock.emit(event, sent);
        const seen = [];
        for (const x of to) {
          const e = await h.nextEntry(x.sock, event, { since: m.get(x.sock) });
          assert.deepEqual(e.payload, expected, `${x.sock.__label} receives ${event}`);
          seen.push(e);
        }
        await h.quiet(m, seen);
      }

      it('ring goes to the callee only', async () => {
        const call = { id: 'call-1' };
        const offer = { type: 'offer', sdp: SDP_OFFER };
        await forwards(alice, 'ring', { workspace: sentWs, attendee: alice.me, accessToken: alice.token, call, callee: { id: bob.me.id }, offer, nonce: 'ring-n' },
          [bob], { workspace: sentWs, caller: alice.me, offer, call, nonce: 'ring-n' });
      });

      it('the owner can ring too', async () => {
        const call = { id: 'call-2' };
        const offer = { type: 'offer', sdp: SDP_OFFER };
        await forwards(f.owner, 'ring', { workspace: sentWs, attendee: f.owner.me, accessToken: f.owner.token, call, callee: { id: alice.me.id }, offer, nonce: 7 },
          [alice], { workspace: sentWs, caller: f.owner.me, offer, call, nonce: 7 });
      });

      it('answer goes to the caller only', async () => {
        const call = { id: 'call-1' };
        const answer = { type: 'answer', sdp: SDP_ANSWER };
        await forwards(bob, 'answer', { workspace: sentWs, attendee: bob.me, call, caller: { id: alice.me.id }, answer, accessToken: bob.token, nonce: 'ans-n' },
          [alice], { workspace: sentWs, callee: bob.me, answer, call, nonce: 'ans-n' });
      });

      it('busy goes to the room, not the sender', async () => {
        const call = { id: 'call-1' };
        await forwards(bob, 'busy', { workspace: sentWs, attendee: bob.me, call, caller: { id: alice.me.id }, accessToken: bob.token, nonce: 'b' },
          [f.owner, alice], { workspace: sentWs, callee: bob.me, call });
      });

      it('hangup goes to the room, not the sender', async () => {
        const call = { id: 'call-1' };
        await forwards(alice, 'hangup', { workspace: { id: f.W.id }, attendee: alice.me, call, accessToken: alice.token },
          [f.owner, bob], { attendee: alice.me, call });
      });

      for (const ev of ['mic-toggle', 'cam-toggle']) {
        for (const state of [false, true]) {
          it(`${ev} (${state}) goes to the room, not the sender`, async () => {
            await forwards(bob, ev, { workspace: { id: f.W.id }, attendee: bob.me, state, accessToken: bob.token },
              [f.owner, alice], { attendee: bob.me, state });
          });
        }
      }

      it('icecandidate goes to the target only, exactly {attendee, broadcaster, candidate}', async () => {
        await forwards(alice, 'icecandidate', { workspace: { id: f.W.id }, attendee: { id: bob.me.id }, broadcaster: { id: alice.me.id }, accessToken: alice.token, candidate: CANDIDATE },
          [bob], { attendee: { id: bob.me.id }, broadcaster: { id: alice.me.id }, candidate: CANDIDATE });
        await forwards(bob, 'icecandidate', { workspace: { id: f.W.id }, attendee: { id: f.owner.me.id }, broadcaster: { id: bob.me.id }, accessToken: bob.token, candidate: null },
          [f.owner], { attendee: { id: f.owner.me.id }, broadcaster: { id: bob.me.id }, candidate: null });
      });

      it('negotiation goes to the target only, exactly {attendee:{id:SENDER}, message}', async () => {
        const offer = { type: 'offer', data: { type: 'offer', sdp: SDP_OFFER } };
        await forwards(f.owner, 'negotiation', { workspace: { id: f.W.id }, attendee: { id: bob.me.id }, broadcaster: { id: f.owner.me.id }, accessToken: f.owner.token, message: offer },
          [bob], { attendee: { id: f.owner.me.id }, message: offer });
        const answer = { type: 'answer', data: { type: 'answer', sdp: SDP_ANSWER } };
        await forwards(bob, 'negotiation', { workspace: { id: f.W.id }, attendee: { id: f.owner.me.id }, broadcaster: { id: bob.me.id }, accessToken: bob.token, message: answer },
          [f.owner], { attendee: { id: bob.me.id }, message: answer });
      });
    });

    // --- relayed fields, byte for byte ----------------------------------------
    // The server forwards what it does not inspect as the raw JSON text it
    // arrived as (docs/PROTOCOL.md § Conventions, "Forwarded fields"): the target's packet is
    // compared as text, not as parsed JSON, so an unescape/re-escape, a key
    // reordering or a changed number shows up.
    describe('relayed fields reach the target byte for byte as sent', () => {
      let pool; let f; let alice; let bob;
      before(async () => {
        pool = newPool();
        f = await fixture(pool, 2, { prefix: 'raw-' });
        [alice, bob] = f.members;
      });
      after(() => pool.close());

      // The text of the next socket.io packet for `event` that `x`'s engine receives.
      function nextPacket(x, event, timeout = 5000) {
        const engine = x.sock.io.engine;
        const head = `2[${JSON.stringify(event)},`;
        return new Promise((resolve, reject) => {
          const onPacket = (p) => {
            if (p.type !== 'message' || typeof p.data !== 'string' || !p.data.startsWith(head)) return;
            clearTimeout(timer);
            engine.off('packet', onPacket);
            resolve(p.data);
          };
          const timer = setTimeout(() => { engine.off('packet', onPacket); reject(new Error(`no ${event} packet within ${timeout} ms`)); }, timeout);
          engine.on('packet', onPacket);
        });
      }
      // Sends `42["event",{…}]` with `field` spliced in as the exact text `raw`.
      function sendRaw(from, event, payload, field, raw) {
        const marker = '"@@RAW@@"';
        const text = JSON.stringify([event, { ...payload, [field]: '@@RAW@@' }]).replace(marker, raw);
        from.sock.io.engine.write(`2${text}`);
      }
      const negotiationFrom = (s, t) => ({ workspace: { id: f.W.id }, attendee: { id: t.me.id }, broadcaster: { id: s.me.id }, accessToken: s.token });
      const negotiationPacket = (s, raw) => `2["negotiation",{"attendee":{"id":"${s.me.id}"},"message":${raw}}]`;

      const SDP = [
        'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=caf\u00e9 \u{1F600} \u4e2d\u6587',
        'a=tab\there', 'a=quote"and\\backslash', 'a=nul\u0000ctl\u001f', 'a=ls\u2028ps\u2029end',
        `a=long:${'x'.repeat(200000)}`, '',
      ].join('\r\n');

      it('a negotiation emitted by the client: the message exactly as its JSON.stringify wrote it (unicode, escapes, \\u2028, a 200 000-character line)', async () => {
        const message = { type: 'offer', data: { type: 'offer', sdp: SDP } };
        const got = nextPacket(bob, 'negotiation');
        alice.sock.emit('negotiation', { ...negotiationFrom(alice, bob), message });
        assert.equal(await got, negotiationPacket(alice, JSON.stringify(message)));
      });

      it('a negotiation written by hand: spacing, key order, escapes and numbers untouched', async () => {
        const raw = '{ "type" : "answer",\n "data":{"sdp":"caf\\u00e9 \\/ \\ud83d\\ude00 \u2028", "type":"answer"}, "n": 1.50, "big": 123456789012345678901234567890, "e": 1E+2 }';
        const got = nextPacket(f.owner, 'negotiation');
        sendRaw(bob, 'negotiation', negotiationFrom(bob, f.owner), 'message', raw);
        assert.equal(await got, negotiationPacket(bob, raw));
      });

      it('an icecandidate written by hand, and one with no candidate (null)', async () => {
        const raw = '{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host \\u0067en 0","sdpMid" :"0","sdpMLineIndex":0.0}';
        const payload = { workspace: { id: f.W.id }, attendee: { id: bob.me.id }, broadcaster: { id: alice.me.id }, accessToken: alice.token };
        const head = `2["icecandidate",{"attendee":{"id":"${bob.me.id}"},"broadcaster":{"id":"${alice.me.id}"},"candidate":`;
        let got = nextPacket(bob, 'icecandidate');
        sendRaw(alice, 'icecandidate', payload, 'candidate', raw);
        assert.equal(await got, `${head}${raw}}]`);
        got = nextPacket(bob, 'icecandidate');
        alice.sock.emit('icecandidate', payload);
        assert.equal(await got, `${head}null}]`);
      });

      it('a ring written by hand: offer and call as sent', async () => {
        const offer = '{"type":"offer" , "sdp":"v=0\\r\\ns=\\u00e9"}';
        const payload = { workspace: { id: f.W.id }, attendee: { id: alice.me.id }, callee: { id: bob.me.id }, accessToken: alice.token, call: { id: 'c1' }, nonce: 'n1' };
        const got = nextPacket(bob, 'ring');
        sendRaw(alice, 'ring', payload, 'offer', offer);
        assert.equal(await got, `2["ring",{"call":{"id":"c1"},"caller":{"id":"${alice.me.id}"},"nonce":"n1","offer":${offer},"workspace":{"id":"${f.W.id}"}}]`);
      });
    });

    // --- error paths of every token-checked event ----------------------------
    describe('token-checked events reject bad input (exact alert, bystanders get nothing)', () => {
      for (const spec of G.specs) {
        const ev = spec.name;
        describe(ev, () => {
          let pool; let f; let other; let ctx; let bystanders;
          before(async () => {
            pool = newPool();
            f = await fixture(pool, 2, { prefix: `${ev}-` });
            other = await fixture(pool, 1, { prefix: `${ev}-other-` });
            const [alice, bob] = f.members;
            const s = spec.ownerOnly ? f.owner : alice;
            // peer: another member of the same workspace (for "X claiming Y")
            const peer = spec.ownerOnly ? alice : f.owner;
            ctx = { W: f.W, s, t: bob, peer, other: other.owner };
            bystanders = [...f.all.filter((x) => x !== s), ...other.all];
          });
          after(() => pool.close());

          let cases = tokenErrorCases(spec);
          if (spec.target) cases = cases.concat(targetErrorCases(spec));
          if (ev === 'negotiation') cases = cases.concat(messageErrorCases());
          for (const cs of cases) {
            it(`${cs.name} -> ${cs.text}`, async () => {
              const payload = cs.mutate(clone(spec.build(ctx)), ctx);
              await expectRejected(ctx.s, ev, payload, cs.text, bystanders);
            });
          }
          it('nothing changed', async () => {
            assert.deepEqual(await listAttendees(f.owner), { attendees: attendeesMap(...f.all) });
          });
        });
      }
    });

    // --- reconnect -----------------------------------------------------------
    describe('reconnect', () => {
      it('after a forced engine close the client reconnects, and the attendee is reachable again', async (t) => {
        const pool = testPool(t, { reconnection: true });
        const f = await fixture(pool, 2);
        const [alice, bob] = f.members;
        const oldId = bob.sock.id;
        bob.sock.__allowDisconnect = true; // the test's own forced disconnect
        const reconnected = new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no reconnect within 10 s')), 10000);
          bob.sock.once('connect', () => { clearTimeout(timer); resolve(); });
        });
        bob.sock.io.engine.close();
        await reconnected;
        assert.notEqual(bob.sock.id, oldId, 'a new socket');
        // one token-carrying event from the new socket
        const since = bob.sock.__rec.seq;
        bob.sock.emit('attendees', { workspace: { id: f.W.id }, attendee: { id: bob.me.id }, accessToken: bob.token });
        assert.deepEqual(await h.waitFor(bob.sock, 'attendees', { since }), { attendees: attendeesMap(...f.all) });
        // addressed messages reach the reconnected socket
        const m = h.mark(f.all.map((x) => x.sock));
        const message = { type: 'offer', data: { type: 'offer', sdp: SDP_OFFER } };
        alice.sock.emit('negotiation', { workspace: { id: f.W.id }, attendee: { id: bob.me.id }, broadcaster: { id: alice.me.id }, accessToken: alice.token, message });
        const e = await h.nextEntry(bob.sock, 'negotiation', { since: m.get(bob.sock) });
        assert.deepEqual(e.payload, { attendee: { id: alice.me.id }, message });
        await h.quiet(m, [e]);
        // and so do room messages
        const m2 = h.mark(f.all.map((x) => x.sock));
        f.owner.sock.emit('mic-toggle', { workspace: { id: f.W.id }, attendee: f.owner.me, state: true, accessToken: f.owner.token });
        const seen = [];
        for (const x of [alice, bob]) seen.push(await h.nextEntry(x.sock, 'mic-toggle', { since: m2.get(x.sock) }));
        for (const s of seen) assert.deepEqual(s.payload, { attendee: f.owner.me, state: true });
        await h.quiet(m2, seen);
      });
    });
  });
};

module.exports.TEXT = TEXT;
