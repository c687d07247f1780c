'use strict';
// Hostile clients (issue #5): a corpus of malformed and forged payloads for
// every event, sent by real socket.io clients (2.0.4 and 4, polling and
// websocket). After each case: the server still answers GET /, a bystander
// pair in a healthy workspace still exchanges a `negotiation` within 1 s and
// received nothing else, and the attacker got the answer docs/PROTOCOL.md asks for
// (an alert, `destroyed`, or for iceservers the ICE servers) within a bound.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../harness.js');
const E = require('../events.js');

const { TEXT } = h;
// The token-checked events, from the server itself (`--list-events`).
let G = { specs: [], unbuildable: [] };
let listError = null;
try {
  G = E.guarded();
} catch (e) {
  listError = e;
}
const ANSWER_TIMEOUT = 3000;
const PROBE_TIMEOUT = 1000;
const NOARG = Symbol('no payload');
const DEEP_O = Symbol('object nested 10 000 deep');
const DEEP_A = Symbol('array nested 10 000 deep');
const ANY = Symbol('any alert');
const DEPTH = 10000;
const DEEP_TEXT = {
  [DEEP_O]: '{"a":'.repeat(DEPTH) + '{}' + '}'.repeat(DEPTH),
  [DEEP_A]: '['.repeat(DEPTH) + ']'.repeat(DEPTH),
};

const VARIANTS = [
  { client: '2.0.4', transport: 'polling' },
  { client: '2.0.4', transport: 'websocket' },
  { client: '4', transport: 'polling' },
  { client: '4', transport: 'websocket' },
];

const LONG = 'x'.repeat(100000);

// What each runAll did: {variant, event, generated, run, ok} (the last test checks it).
const ran = [];

// --- payload helpers ---------------------------------------------------------
function hasLoneSurrogate(s) {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(s);
}
// Values the server cannot parse as JSON text (socket.io binary attachments,
// lone surrogates, 10 000-deep nesting): docs/PROTOCOL.md names no text for them,
// any alert will do.
function opaque(v) {
  if (v === DEEP_O || v === DEEP_A) return true;
  if (Buffer.isBuffer(v)) return true;
  if (typeof v === 'string') return hasLoneSurrogate(v);
  if (Array.isArray(v)) return v.some(opaque);
  if (v && typeof v === 'object') return Object.values(v).some(opaque);
  return false;
}
// How many `a` levels a DEEP_O value has (iterative: a recursive walk would overflow).
function depthOf(v) {
  let n = 0;
  for (let o = v; o && typeof o === 'object' && 'a' in o; o = o.a) n += 1;
  return n;
}
function hasDeep(v) {
  if (v === DEEP_O || v === DEEP_A) return true;
  if (Array.isArray(v)) return v.some(hasDeep);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) return Object.values(v).some(hasDeep);
  return false;
}
function describeValue(v) {
  if (v === NOARG) return 'no payload';
  if (v === DEEP_O || v === DEEP_A) return v.description;
  if (Buffer.isBuffer(v)) return `Buffer(${v.length})`;
  if (v === undefined) return 'deleted';
  const s = JSON.stringify(v, (k, x) => (typeof x === 'symbol' ? x.description : Buffer.isBuffer(x) ? 'Buffer' : x));
  return s.length > 60 ? `${s.slice(0, 40)}…(${s.length} chars)` : s;
}
function setPath(obj, p, v) {
  const keys = p.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (!o[k] || typeof o[k] !== 'object') o[k] = {};
    o = o[k];
  }
  const last = keys[keys.length - 1];
  if (v === undefined) delete o[last];
  else o[last] = v;
  return obj;
}

// Sends `payload` as event `event`; deep values go out as raw Engine.IO text
// (the client's own encoder recurses and would overflow its stack).
function send(sock, event, payload) {
  if (payload === NOARG) return sock.emit(event);
  if (hasDeep(payload)) {
    const marks = [];
    let text = JSON.stringify([event, payload], (k, x) => {
      if (x === DEEP_O || x === DEEP_A) { marks.push(x); return `@@DEEP${marks.length - 1}@@`; }
      return x;
    });
    text = text.replace(/"@@DEEP(\d+)@@"/g, (_, i) => DEEP_TEXT[marks[Number(i)]]);
    return sock.io.engine.write(`2${text}`);
  }
  return sock.emit(event, payload);
}

// --- value sets ----------------------------------------------------------------
const NOT_OBJECTS = [NOARG, null, 0, -1, 1.5, 1e308, '', 'x', 'a\u0000b', '\ud800', true, false, [], [{}], Buffer.from('hi'), DEEP_O, DEEP_A];
const NOT_OBJECT_FIELDS = [undefined, null, 0, 'x', true, [], [{}], Buffer.from([0, 1]), DEEP_O];
const BAD_IDS = [undefined, null, 0, 1234567890, true, [], {}, '', 'x', '_short', '_abcdefghijk', '_abcde.ghij', '_abcde-ghij',
  '_abcde:ghij', '_abcdefghi\u0000', '\u0000abcdefghij', '_abcdefghi\ud800', '_abcdefgh\u00e9', ' _abcdefghij', '_abcdefghij\n', LONG,
  Buffer.from('_abcdefghij'), DEEP_O];
const BAD_TOKEN_TYPES = [undefined, null, '', 0, true, [], {}, ['x']];
const BAD_TOKEN_STRINGS = ['x', 'a.b.c', '...', 'eyJ.eyJ.', 'a\u0000b.c.d', LONG, '\ud800.x.y'];
const PASS_VALUES = [null, 0, 1.5, 'a\u0000b', '\u{1F600}', true, [], {}, [1, [2, [3]]], { nested: { deep: [null, { x: 1 }] } }, 'y'.repeat(20000)];

// --- fixtures -------------------------------------------------------------------
async function reply(sock, event, payload, want, timeout = ANSWER_TIMEOUT) {
  const since = sock.__rec.seq;
  send(sock, event, payload);
  const e = await h.firstOf(sock, [want, 'alert', 'destroyed', 'full'], { since, timeout });
  assert.ok(e, `${sock.__label}: no answer to ${event}`);
  assert.equal(e.event, want, `${sock.__label}: ${event} -> ${JSON.stringify(e.payload)}`);
  return e.payload;
}

async function createWs(sock, name, pin = '') {
  const p = await reply(sock, 'create', { workspace: { name, pin }, attendee: { name: `${name}-owner` } }, 'created');
  return { W: p.workspace, me: p.attendee, token: p.accessToken, sock };
}
async function attendWs(sock, W, pin, name) {
  const p = await reply(sock, 'attend', { workspace: { token: W.token, pin }, attendee: { name } }, 'attendance-granted');
  return { W, me: p.attendee, token: p.accessToken, sock };
}

function fixtureFor(srv, variant) {
  const fx = { sockets: [] };
  fx.conn = async (label) => {
    const s = await h.connect(srv.url, variant, label);
    fx.sockets.push(s);
    return s;
  };
  return fx;
}

// --- event specs ----------------------------------------------------------------
// Which events forward what: the relayed event and its pass-through fields.
const RELAYS = {
  icecandidate: { relay: 'icecandidate', pass: ['candidate'] },
  negotiation: { relay: 'negotiation', pass: ['message.type', 'message.data'] },
  ring: { relay: 'ring', pass: ['offer', 'call', 'nonce'] },
  answer: { relay: 'answer', pass: ['answer', 'call', 'nonce'] },
  busy: { relay: 'busy', pass: ['call'] },
  hangup: { relay: 'hangup', pass: ['call'] },
  'mic-toggle': { relay: 'mic-toggle', pass: ['state'] },
  'cam-toggle': { relay: 'cam-toggle', pass: ['state'] },
};
// The server's guarded events with their payloads: build(s, t, W) is a valid
// payload from member s to member t of workspace W.
const EVENTS = Object.fromEntries(G.specs.map((spec) => [spec.name, {
  ...spec, ...RELAYS[spec.name], build: (s, t, W) => spec.build({ W, s, t }),
}]));

// Where a forwarded pass-through field shows up in what the target receives.
function forwardedAt(event, field, payload) {
  switch (event) {
    case 'icecandidate': return payload.candidate;
    case 'negotiation': return field === 'message.type' ? payload.message.type : payload.message.data;
    case 'ring': case 'answer': return payload[field];
    case 'busy': case 'hangup': return payload.call;
    default: return payload.state;
  }
}

// The corpus for one token-checked event. x: {A, G, WA, B1, B2, WB, D, gone, secret}.
function guardedCases(event, spec, x) {
  const S = spec.sender;
  const cases = [];
  const base = () => spec.build(x.A, x.G, x.WA);
  const add = (name, payload, expect) => cases.push({ name, payload, expect: opaque(payload) && typeof expect === 'string' ? ANY : expect });
  for (const v of NOT_OBJECTS) add(`payload ${describeValue(v)}`, v, TEXT.PAYLOAD);
  add('payload an array holding the valid payload', [base()], TEXT.PAYLOAD);
  for (const v of NOT_OBJECT_FIELDS) add(`workspace ${describeValue(v)}`, setPath(base(), 'workspace', v), TEXT.WSID);
  for (const v of BAD_IDS) add(`workspace.id ${describeValue(v)}`, setPath(base(), 'workspace.id', v), TEXT.WSID);
  for (const v of NOT_OBJECT_FIELDS) add(`${S} ${describeValue(v)}`, setPath(base(), S, v), TEXT.ATTID);
  for (const v of BAD_IDS) add(`${S}.id ${describeValue(v)}`, setPath(base(), `${S}.id`, v), TEXT.ATTID);
  for (const v of BAD_TOKEN_TYPES) add(`accessToken ${describeValue(v)}`, setPath(base(), 'accessToken', v), TEXT.NOACCESS);
  add('accessToken a Buffer', setPath(base(), 'accessToken', Buffer.from(x.A.token)), ANY);
  for (const v of BAD_TOKEN_STRINGS) add(`accessToken ${describeValue(v)}`, setPath(base(), 'accessToken', v), TEXT.BADTOKEN);

  // Forged tokens. Against the bystanders' workspace: success would reach them.
  const victim = () => spec.build(x.B1, x.B2, x.WB);
  const b1Claims = h.claimsOf(x.B1.token);
  const forged = (name, token, payload = victim()) => add(`forged: ${name}`, setPath(payload, 'accessToken', token), TEXT.BADTOKEN);
  forged('alg none with the victim owner\'s real claims', h.algNone(b1Claims));
  forged('alg none, header only "alg":"none" and the real signature', `${h.algNone(b1Claims).slice(0, -1)}${x.B1.token.split('.')[2]}`);
  forged('HS256 signed with another secret', h.signHS(b1Claims, 'not-the-secret'));
  forged('HS256 signed with an empty secret', h.signHS(b1Claims, ''));
  forged('HS512 signed with the real secret (algorithm confusion)', h.signHS(b1Claims, x.secret, 'HS512'));
  forged('victim\'s token with one signature character changed', h.tamper(x.B1.token));
  forged('victim\'s header+payload with the attacker\'s signature', `${x.B1.token.split('.').slice(0, 2).join('.')}.${x.A.token.split('.')[2]}`);
  forged('attacker\'s token (another workspace) on the victim workspace', x.A.token);
  forged('attacker\'s token with the victim workspace and the attacker id',
    x.A.token, setPath(setPath(victim(), 'workspace.id', x.WB.id), `${S}.id`, x.A.me.id));
  forged('victim workspace token used as access token', x.WB.token);
  forged('attacker workspace token used as access token', x.WA.token, base());
  forged('attendee id swapped (attacker token, sender = own guest)', x.A.token, setPath(base(), `${S}.id`, x.G.me.id));
  forged('attendee id swapped (guest token, sender = owner)', x.G.token, base());
  forged('victim claims with the attacker workspace id', h.signHS({ ...b1Claims, ws: x.WA.id }, 'wrong'), base());
  forged('workspace-kind claims signed with the real secret', h.signHS({ typ: 'ws', ws: x.WB.id }, x.secret));
  forged('claims without typ signed with the real secret', h.signHS({ ws: x.WB.id, att: x.B1.me.id, own: true }, x.secret));
  // 6. destroyed workspace, 7. departed member.
  add('valid token of a destroyed workspace', spec.build(x.D, x.D, x.D.W), 'destroyed');
  add('token of an attendee who left', setPath(setPath(base(), `${S}.id`, x.gone.me.id), 'accessToken', x.gone.token), TEXT.NOACCESS);
  // 8. owner-only events from a non-owner, also with a forged own:true claim.
  if (spec.ownerOnly) {
    const asGuest = () => spec.build(x.G, x.A, x.WA);
    add('non-owner', asGuest(), TEXT.UNAUTH);
    add('non-owner with a correctly signed own:true claim', setPath(asGuest(), 'accessToken', h.signHS({ ...h.claimsOf(x.G.token), own: true }, x.secret)), TEXT.UNAUTH);
  }
  // Targets.
  if (spec.target) {
    for (const v of NOT_OBJECT_FIELDS) add(`${spec.target} ${describeValue(v)}`, setPath(base(), spec.target, v), TEXT.ATTID);
    for (const v of BAD_IDS) add(`${spec.target}.id ${describeValue(v)}`, setPath(base(), `${spec.target}.id`, v), TEXT.ATTID);
    add(`${spec.target}.id of a bystander (other workspace)`, setPath(base(), `${spec.target}.id`, x.B2.me.id), TEXT.NOTMEMBER);
    add(`${spec.target}.id well-formed, nobody`, setPath(base(), `${spec.target}.id`, '_ZZZZZZZZZZ'), TEXT.NOTMEMBER);
    add(`${spec.target}.id of the departed attendee`, setPath(base(), `${spec.target}.id`, x.gone.me.id), TEXT.NOTMEMBER);
  }
  if (event === 'negotiation') {
    for (const v of [undefined, null, 0, 'offer', true, [], [{ type: 'offer' }], Buffer.from('sdp'), DEEP_A]) {
      add(`message ${describeValue(v)}`, setPath(base(), 'message', v), TEXT.MESSAGE);
    }
  }
  if (event === 'leave') add('the owner leaves', base(), TEXT.OWNERLEAVE);
  if (event === 'kick') add('the owner kicks itself', setPath(base(), 'kickedAttendee.id', x.A.me.id), TEXT.OWNERKICK);
  // Pass-through fields of wrong types are forwarded as sent, only inside the workspace.
  if (spec.relay) {
    for (const field of spec.pass) {
      for (const v of PASS_VALUES) {
        cases.push({ name: `${field} ${describeValue(v)} (forwarded)`, payload: setPath(base(), field, v), forward: { event: spec.relay, field, value: v } });
      }
      // Forwarded as the raw JSON text it came as, never parsed: depth is the clients' business.
      cases.push({ name: `${field} ${describeValue(DEEP_O)} (forwarded)`, payload: setPath(base(), field, DEEP_O), forward: { event: spec.relay, field, value: DEEP_O } });
      add(`${field} ${describeValue(Buffer.from([1, 2, 3]))}`, setPath(base(), field, Buffer.from([1, 2, 3])), ANY);
    }
  }
  return cases;
}

function createCases(x) {
  const cases = [];
  const base = () => ({ workspace: { name: 'w', pin: '1', avatar: 'a.png' }, attendee: { name: 'n', avatar: 'b.png' }, nonce: 'k' });
  const add = (name, payload, expect, extra = {}) => cases.push({ name, payload, expect: opaque(payload) && typeof expect === 'string' ? ANY : expect, ...extra });
  // DEEP_O as a payload is an object whose one field the server never reads: see the case below.
  for (const v of NOT_OBJECTS.filter((v) => v !== DEEP_O)) add(`payload ${describeValue(v)}`, v, TEXT.PAYLOAD);
  // A field the server does not read stays raw JSON text, never parsed (so no depth limit applies).
  cases.push({ name: `a field it does not read, ${describeValue(DEEP_O)} (created)`,
    payload: setPath(setPath(setPath(base(), 'workspace.name', 'deep'), 'attendee.name', 'deep'), 'junk', DEEP_O), created: 'deep' });
  for (const v of NOT_OBJECT_FIELDS.filter((v) => v !== undefined && v !== null)) {
    add(`workspace ${describeValue(v)}`, setPath(base(), 'workspace', v), TEXT.WSOBJ);
    add(`attendee ${describeValue(v)}`, setPath(base(), 'attendee', v), TEXT.ATTOBJ);
  }
  for (const f of ['workspace.name', 'workspace.avatar', 'attendee.name', 'attendee.avatar']) {
    for (const v of [0, 1.5, true, false, [], ['n'], {}, { toString: 'x' }, Buffer.from('n'), DEEP_A]) {
      add(`${f} ${describeValue(v)}`, setPath(base(), f, v), TEXT.str(f));
    }
  }
  for (const v of [true, [], ['1'], {}, Buffer.from('1'), DEEP_O]) add(`workspace.pin ${describeValue(v)}`, setPath(base(), 'workspace.pin', v), TEXT.str('workspace.pin'));
  for (const f of ['workspace.name', 'attendee.name']) {
    for (const v of ['n'.repeat(257), '\u00e9'.repeat(257), '\u{1F600}'.repeat(257), LONG]) {
      add(`${f} ${describeValue(v)} (too long)`, setPath(base(), f, v), /too long/, { storeUnchanged: 'wrw_workspaces' });
    }
  }
  for (const f of ['workspace.avatar', 'attendee.avatar']) {
    add(`${f} 8193 chars (too long)`, setPath(base(), f, 'a'.repeat(8193)), /too long/, { storeUnchanged: 'wrw_workspaces' });
  }
  for (const v of ['\ud800', 'a\udc00b']) add(`workspace.name ${describeValue(v)}`, setPath(base(), 'workspace.name', v), ANY, { storeUnchanged: 'wrw_workspaces' });
  // Accepted as given, never truncated or altered.
  for (const v of ['n'.repeat(256), '\u{1F600}'.repeat(256), 'a\u0000b', '\u0000', '<script>alert(1)</script>']) {
    cases.push({ name: `workspace.name ${describeValue(v)} (accepted exactly)`, payload: setPath(setPath(base(), 'workspace.name', v), 'attendee.name', v), created: v });
  }
  return cases;
}

function attendCases(x) {
  const cases = [];
  const base = () => ({ workspace: { token: x.WA.token, pin: x.PIN }, attendee: { name: 'n', avatar: 'b.png' }, nonce: 'k' });
  const add = (name, payload, expect, extra = {}) => cases.push({ name, payload, expect: opaque(payload) && typeof expect === 'string' ? ANY : expect, ...extra });
  for (const v of NOT_OBJECTS) add(`payload ${describeValue(v)}`, v, TEXT.PAYLOAD);
  for (const v of NOT_OBJECT_FIELDS.filter((v) => v !== undefined && v !== null)) add(`workspace ${describeValue(v)}`, setPath(base(), 'workspace', v), TEXT.WSOBJ);
  for (const v of [undefined, null]) add(`workspace ${describeValue(v)}`, setPath(base(), 'workspace', v), TEXT.WSTOKEN);
  for (const v of NOT_OBJECT_FIELDS.filter((v) => v !== undefined && v !== null)) add(`attendee ${describeValue(v)}`, setPath(base(), 'attendee', v), TEXT.ATTOBJ);
  for (const v of [undefined, null, '', 0, true, [], {}, [x.WA.token], Buffer.from(x.WA.token)]) {
    add(`workspace.token ${describeValue(v)}`, setPath(base(), 'workspace.token', v), TEXT.WSTOKEN);
  }
  const wsClaims = h.claimsOf(x.WA.token);
  const badTokens = [
    ['garbage', 'x'], ['three segments', 'a.b.c'], ['NUL', 'a\u0000b'], ['very long', LONG],
    ['alg none with the real claims', h.algNone(wsClaims)],
    ['HS256 with another secret', h.signHS(wsClaims, 'wrong')],
    ['HS512 with the real secret', h.signHS(wsClaims, x.secret, 'HS512')],
    ['tampered signature', h.tamper(x.WA.token)],
    ['access token used as workspace token', x.A.token],
    ['bystander owner access token', x.B1.token],
  ];
  for (const [n, t] of badTokens) add(`workspace.token ${n}`, setPath(base(), 'workspace.token', t), TEXT.PIN);
  add('workspace.token lone surrogate', setPath(base(), 'workspace.token', '\ud800'), ANY);
  add('workspace token of a destroyed workspace', setPath(setPath(base(), 'workspace.token', x.D.W.token), 'workspace.pin', ''), 'destroyed');
  for (const v of [true, false, [], [x.PIN], {}, { pin: x.PIN }, Buffer.from(x.PIN), DEEP_O]) {
    add(`workspace.pin ${describeValue(v)}`, setPath(base(), 'workspace.pin', v), TEXT.str('workspace.pin'));
  }
  for (const v of [undefined, null, '', '0000', `${x.PIN}\u0000`, ` ${x.PIN}`, `${x.PIN}0`, 12345, 1234.5, -1234, LONG]) {
    add(`wrong pin ${describeValue(v)}`, setPath(base(), 'workspace.pin', v), TEXT.PIN);
  }
  add('right PIN for the bystander workspace token (PIN of another workspace)', setPath(base(), 'workspace.token', x.WB.token), TEXT.PIN);
  for (const f of ['attendee.name', 'attendee.avatar']) {
    for (const v of [0, true, [], {}, Buffer.from('n'), DEEP_A]) add(`${f} ${describeValue(v)}`, setPath(base(), f, v), TEXT.str(f));
  }
  for (const v of ['n'.repeat(257), '\u{1F600}'.repeat(257), LONG]) {
    add(`attendee.name ${describeValue(v)} (too long)`, setPath(base(), 'attendee.name', v), /too long/, { storeUnchanged: 'wrw_attendees' });
  }
  add('attendee.avatar 8193 chars (too long)', setPath(base(), 'attendee.avatar', 'a'.repeat(8193)), /too long/, { storeUnchanged: 'wrw_attendees' });
  return cases;
}

function iceCases() {
  const cases = [];
  for (const v of [...NOT_OBJECTS, {}, { workspace: DEEP_O }, { a: Buffer.from('x') }, { accessToken: 'forged.x.y' }]) {
    cases.push({ name: `payload ${describeValue(v)}`, payload: v, expect: 'iceservers' });
  }
  return cases;
}

function rustDebug(s) {
  // Rust's {:?} of a str for the simple names used here.
  return JSON.stringify(s);
}
function unknownCases() {
  const cases = [];
  const names = ['foo', 'ICESERVERS', 'create ', 'Create', 'attendance-granted', 'alert', 'destroyed', '__proto__', 'constructor',
    'toString', 'hasOwnProperty', 'x'.repeat(1000), 'a"b', 'a\\b', '\u00e9v\u00e9nement', '\u{1F600}', 'a\u0000b', ''];
  for (const n of names) {
    const shown = [...n].slice(0, 40).join('');
    const simple = /^[\x20-\x7e]*$/.test(n);
    // socketioxide's packet decoder cannot read an event name that needs JSON
    // unescaping (a quote, a backslash, a control character): it closes the
    // offender's connection before any handler of ours runs. The server and
    // everyone else are unaffected, which is what this suite holds it to.
    const undecodable = /["\\\u0000-\u001f]/.test(n);
    const expect = undecodable ? ALERT_OR_DISCONNECT : simple ? `Unknown event ${rustDebug(shown)}.` : /^Unknown event "/;
    cases.push({ name: `event ${describeValue(n)}`, event: n, payload: { workspace: { id: '_abcdefghij' } }, expect });
  }
  // socket.io allows numeric event names; socketioxide's decoder does not
  // (same outcome as above: the offender is disconnected).
  cases.push({ name: 'numeric event name 5', event: 5, payload: {}, expect: ALERT_OR_DISCONNECT });
  for (const v of [NOARG, null, 7, 'x', [], Buffer.from('x'), DEEP_O]) {
    cases.push({ name: `event "bogus" with payload ${describeValue(v)}`, event: 'bogus', payload: v, expect: 'Unknown event "bogus".' });
  }
  return cases;
}

// Raw Socket.IO packets that are not well-formed events: the offender gets an
// alert or is disconnected (a protocol error), never left hanging; nobody else
// notices.
const ALERT_OR_DISCONNECT = Symbol('an alert, or the offender is disconnected');
function notEventCases() {
  return ['2[null,{}]', '2[]', '2[{}]', '2[["iceservers"]]', '2{}', '2"iceservers"', '2["iceservers",', '2[true,1]', '9["x"]', '2', '2\u0000']
    .map((raw) => ({ name: `raw packet ${JSON.stringify(raw)}`, raw, expect: ALERT_OR_DISCONNECT }));
}

// --- the per-variant suite --------------------------------------------------------
// HOSTILE_VARIANT=4/websocket (debugging aid): run one variant only.
const only = process.env.HOSTILE_VARIANT;
for (const variant of VARIANTS.filter((v) => !only || `${v.client}/${v.transport}` === only)) {
  describe(`hostile payloads, socket.io-client ${variant.client} over ${variant.transport}`, () => {
    let srv;
    let fx;
    let by; // bystanders: {B1, B2, WB}
    let probeSeq = 0;

    before(async () => {
      srv = await h.startServer({
        config: {
          // The corpus is not about limits: keep them out of its way.
          max_failed_pins_per_ip: 1000000,
          max_failed_pins_per_workspace: 1000000,
          max_workspaces_per_ip_per_hour: 1000000,
          events_per_second: 100000,
          event_burst: 100000,
        },
      });
      fx = fixtureFor(srv, variant);
      const b1 = await fx.conn('bystander-1');
      const b2 = await fx.conn('bystander-2');
      const B1 = await createWs(b1, 'healthy', '4242');
      const B2 = await attendWs(b2, B1.W, '4242', 'bystander-2');
      by = { B1, B2, WB: B1.W };
      h.drain(b1, b2);
    });

    after(async () => {
      if (fx) for (const s of fx.sockets) h.close(s);
      if (srv) await srv.stop();
    });

    // Attacker fixture, fresh for every event: owner A (+ PIN) and guest G of
    // workspace WA, a departed attendee, and a destroyed workspace D.
    async function attackerFixture() {
      const a = await fx.conn('attacker');
      const g = await fx.conn('attacker-guest');
      const PIN = '1234';
      const A = await createWs(a, 'attacker', PIN);
      const G = await attendWs(g, A.W, PIN, 'guest');
      const l = await fx.conn('departed');
      const gone = await attendWs(l, A.W, PIN, 'departed');
      const leaveMarks = h.mark(a, g);
      l.emit('leave', { workspace: { id: A.W.id }, attendee: { id: gone.me.id }, accessToken: gone.token });
      for (const s of [a, g]) {
        assert.ok(await h.firstOf(s, ['leave'], { since: leaveMarks.get(s), timeout: ANSWER_TIMEOUT }), 'departed attendee left');
      }
      const D = await createWs(l, 'doomed');
      const since = l.__rec.seq;
      l.emit('destroy', { workspace: { id: D.W.id }, attendee: { id: D.me.id }, accessToken: D.token });
      assert.ok(await h.firstOf(l, ['destroyed'], { since, timeout: ANSWER_TIMEOUT }), 'doomed workspace destroyed');
      h.close(l);
      h.drain(a, g);
      return { A, G, WA: A.W, PIN, gone, D, a, g, ...by, secret: srv.secrets.MAGICK_TOKEN };
    }

    // Runs one case; returns a list of failure strings (empty: passed).
    async function runCase(c, x, event) {
      const fails = [];
      const a = x.a;
      const marks = h.mark(by.B1.sock, by.B2.sock, x.g);
      const since = a.__rec.seq;
      let before = null;
      let answered = true;
      if (c.storeUnchanged) before = await h.readMetric(srv.url, c.storeUnchanged);
      try {
        if (c.raw !== undefined) a.io.engine.write(c.raw);
        else send(a, 'event' in c ? c.event : event, c.payload);
      } catch (e) {
        return [`client could not send: ${e.message}`];
      }
      // The attacker's answer.
      if (c.forward) {
        const got = await h.firstOf(x.g, [c.forward.event], { since: marks.get(x.g), timeout: ANSWER_TIMEOUT });
        if (!got) fails.push(`target got no ${c.forward.event} within ${ANSWER_TIMEOUT} ms`);
        else {
          try {
            const at = forwardedAt(c.forward.event, c.forward.field, got.payload);
            if (c.forward.value === DEEP_O) assert.equal(depthOf(at), DEPTH);
            else assert.deepEqual(at, c.forward.value);
          } catch (e) {
            fails.push(`forwarded field altered: ${JSON.stringify(got.payload).slice(0, 300)}`);
          }
        }
      } else {
        // The answer, or the attacker's disconnect (no point waiting the full bound then).
        const e = await Promise.race([
          h.firstOf(a, ['alert', 'destroyed', 'full', 'iceservers', 'created', 'attendance-granted', 're-attendance-granted',
            'attendees', 'kicked', 'leave', 'attend'], { since, timeout: ANSWER_TIMEOUT }),
          a.__disconnected.then(() => null),
        ]);
        answered = Boolean(e);
        const want = c.created !== undefined ? 'created' : (c.expect === 'iceservers' || c.expect === 'destroyed') ? c.expect : 'alert';
        if (c.expect === ALERT_OR_DISCONNECT) {
          if (e ? e.event !== 'alert' : a.connected) fails.push(e ? `answered ${e.event} ${JSON.stringify(e.payload).slice(0, 200)}` : `neither an alert nor a disconnect within ${ANSWER_TIMEOUT} ms (silent drop)`);
        } else if (!e) {
          fails.push(a.connected ? `no answer within ${ANSWER_TIMEOUT} ms (silent drop)` : `no answer: the server closed the attacker's connection (${a.__disconnects.join(',')})`);
        } else if (e.event !== want) {
          fails.push(`answered ${e.event} ${JSON.stringify(e.payload).slice(0, 200)}; expected ${want}${want === 'alert' ? ` ${String(c.expect.description || c.expect)}` : ''}`);
        } else if (want === 'alert') {
          const ok = c.expect === ANY ? typeof e.payload === 'string'
            : c.expect instanceof RegExp ? typeof e.payload === 'string' && c.expect.test(e.payload) : e.payload === c.expect;
          if (!ok) fails.push(`alert ${JSON.stringify(e.payload)}; expected ${c.expect === ANY ? 'any alert text' : String(c.expect)}`);
        } else if (want === 'iceservers') {
          if (!Array.isArray(e.payload) || e.payload.length === 0) fails.push(`iceservers payload ${JSON.stringify(e.payload)}`);
        } else if (want === 'destroyed') {
          if (JSON.stringify(e.payload) !== '{}') fails.push(`destroyed payload ${JSON.stringify(e.payload)}`);
        } else if (want === 'created') {
          const p = e.payload;
          if (p.workspace.name !== c.created || p.attendee.name !== c.created) {
            fails.push(`name stored altered: ${JSON.stringify([p.workspace.name, p.attendee.name]).slice(0, 200)}`);
          }
        }
      }
      if (!a.connected && c.expect !== ALERT_OR_DISCONNECT && answered) fails.push(`attacker was disconnected (${a.__disconnects.join(',')})`);
      // The server is alive, answers HTTP, and the bystanders are untouched.
      if (srv.exited) {
        fails.push(`SERVER EXITED (${srv.exitInfo}); stderr: ${srv.stderr().slice(-2000)}`);
        return fails;
      }
      const probe = ++probeSeq;
      const b1 = by.B1.sock;
      const b2 = by.B2.sock;
      const probeSince = b2.__rec.seq;
      b1.emit('negotiation', {
        workspace: { id: by.WB.id }, attendee: { id: by.B2.me.id }, broadcaster: { id: by.B1.me.id }, accessToken: by.B1.token,
        message: { type: 'offer', data: { probe } },
      });
      const [home, got] = await Promise.all([
        h.get(`${srv.url}/`).catch((err) => ({ status: `error ${err.message}` })),
        h.firstOf(b2, ['negotiation'], { since: probeSince, timeout: PROBE_TIMEOUT }),
      ]);
      if (home.status !== 200) fails.push(`GET / answered ${home.status}`);
      if (!got) fails.push(`bystander negotiation not delivered within ${PROBE_TIMEOUT} ms`);
      else if (!got.payload || !got.payload.message || !got.payload.message.data || got.payload.message.data.probe !== probe) {
        fails.push(`bystander got a foreign negotiation: ${JSON.stringify(got.payload).slice(0, 200)}`);
      }
      for (const [s, label] of [[b1, 'bystander-1'], [b2, 'bystander-2']]) {
        const extra = s.__rec.entries.filter((en) => en.seq >= marks.get(s) && en !== got);
        if (extra.length) fails.push(`ATTACK REACHED ${label}: ${JSON.stringify(extra.map((en) => [en.event, en.payload])).slice(0, 300)}`);
      }
      if (!c.forward) {
        const extra = x.g.__rec.entries.filter((en) => en.seq >= marks.get(x.g));
        if (extra.length) fails.push(`attacker's guest received ${JSON.stringify(extra.map((en) => [en.event, en.payload])).slice(0, 300)}`);
      }
      if (before !== null) {
        const afterCount = await h.readMetric(srv.url, c.storeUnchanged);
        if (afterCount !== before) fails.push(`store changed: ${c.storeUnchanged} ${before} -> ${afterCount}`);
      }
      h.drain(a, x.g);
      return fails;
    }

    async function runAll(t, event, makeCases) {
      const x = await attackerFixture();
      const cases = makeCases(x);
      const failures = [];
      let run = 0;
      let ok = 0;
      for (const c of cases) {
        const f = await runCase(c, x, event);
        run++;
        if (f.length) failures.push(`${event} / ${c.name}: ${f.join('; ')}`);
        else ok++;
        if (srv.exited) break;
        if (!x.a.connected) {
          // Keep going with a fresh attacker socket (tokens stay valid; the
          // server binds it on its first event).
          h.close(x.a);
          x.a = await fx.conn('attacker');
        }
      }
      ran.push({ variant: `${variant.client}/${variant.transport}`, event, generated: cases.length, run, ok });
      t.diagnostic(`${event}: ${cases.length} cases, ${failures.length} failed`);
      for (const f of failures) t.diagnostic(`FAILED ${f}`);
      await h.quiet(h.mark(by.B1.sock, by.B2.sock));
      h.close(x.a);
      h.close(x.g);
      assert.deepEqual(failures, [], `${failures.length} of ${cases.length} ${event} cases failed:\n${failures.join('\n')}`);
    }

    it('iceservers always answers with ICE servers', (t) => runAll(t, 'iceservers', iceCases));
    it('create', (t) => runAll(t, 'create', createCases));
    it('attend', (t) => runAll(t, 'attend', attendCases));
    for (const [event, spec] of Object.entries(EVENTS)) {
      it(event, (t) => runAll(t, event, (x) => guardedCases(event, spec, x)));
    }
    it('unknown event names', (t) => runAll(t, 'unknown', unknownCases));
    it('packets that are not well-formed events', (t) => runAll(t, 'not-an-event', notEventCases));
  });
}

// The corpus per variant: how many cases each event's generator makes. Every
// one of them must have run and got exactly the answer it expects.
const EXPECTED_CASES = {
  iceservers: 21,
  create: 94,
  attend: 90,
  're-attend': 116,
  attendees: 116,
  leave: 117,
  kick: 154,
  destroy: 118,
  ring: 190,
  answer: 190,
  busy: 129,
  hangup: 129,
  'mic-toggle': 129,
  'cam-toggle': 129,
  icecandidate: 164,
  negotiation: 186,
  unknown: 26,
  'not-an-event': 11,
};

describe('hostile payload corpus', () => {
  it('the server lists no token-checked event this corpus cannot build', () => {
    if (listError) throw listError;
    assert.deepEqual(G.unbuildable, []);
    assert.ok(G.specs.length > 0);
  });

  it('every case of every event ran, on every variant, and got exactly the answer it expects', (t) => {
    // The events from the server's table (--list-events), then the two kinds of non-event.
    const events = [...E.UNGUARDED, ...G.specs.map((s) => s.name), 'unknown', 'not-an-event'];
    assert.deepEqual(Object.keys(EXPECTED_CASES).sort(), [...events].sort(),
      'EXPECTED_CASES: a corpus size for each event the server lists, and for no other');
    const variants = VARIANTS.filter((v) => !only || `${v.client}/${v.transport}` === only).map((v) => `${v.client}/${v.transport}`);
    const expected = variants.flatMap((variant) => events.map((event) => {
      const n = EXPECTED_CASES[event];
      return { variant, event, generated: n, run: n, ok: n };
    }));
    const key = (r) => `${r.variant} ${r.event}`;
    const sorted = (rows) => [...rows].sort((a, b) => key(a).localeCompare(key(b)));
    const total = ran.reduce((n, r) => n + r.run, 0);
    t.diagnostic(`hostile payload cases run: ${total}; per variant: ${JSON.stringify(Object.fromEntries(ran.filter((r) => r.variant === variants[0]).map((r) => [r.event, r.generated])))}`);
    assert.deepEqual(sorted(ran), sorted(expected));
  });
});
