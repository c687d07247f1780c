'use strict';
// Switching over from the original (Node) server: our server starts on the
// original's storage file (json_storage_file), keeps a byte-for-byte copy as
// `<file>.original`, rewrites `<file>` in its own format, and honours the
// tokens the original handed out (invite tokens with their PIN, access
// tokens) under the same MAGICK_TOKEN/SALT_STRING, with ownership taken from
// the store. `legacy_tokens` ("auto" default, "on", "off") switches that; auto
// is on for a store imported from the original's file, across restarts.
// The original's recipe for its file and tokens: ./original.js.

const { describe, it, before, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const L = require('../harness.js');
const O = require('./original.js');
const { TEXT } = L;

// The limits' alert text, as the hostile-client suite has it.
const { PIN_LOCKED } = L.TEXT;
const CANDIDATE = { candidate: 'candidate:842163049 1 udp 1677729535 192.0.2.7 46154 typ srflx', sdpMid: '0', sdpMLineIndex: 0 };
const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };

const T = L.tracked(afterEach);
const { conn } = T;
const newDir = T.dir;

// One fixture (bcrypt is slow in JS) for the whole file, copied into a fresh
// directory for each server.
const secrets = L.newSecrets();
let fx;
before(() => { fx = O.fixture(secrets); });

const byPin = () => fx.workspaces.find((w) => w.pin !== '');
const withThree = () => fx.workspaces.filter((w) => w.members.length >= 3);

// Writes the original's file into a new dir and starts our server on it.
async function importServer(config = {}, fixture = fx) {
  const dir = newDir('wrw-ops-');
  const file = path.join(dir, 'workspaces.json');
  fs.writeFileSync(file, fixture.text);
  const fullConfig = { json_storage_file: file, max_capacity_of_workspace: 8, ...config };
  const srv = await T.start({ dir, config: fullConfig, secrets });
  return { srv, dir, file, config: fullConfig };
}

// What a client stored from the original: {workspace, attendee, accessToken}.
function oldSession(w, m, accessToken = m.accessToken) {
  return { workspace: { id: w.id, name: w.name, avatar: w.avatar }, attendee: { id: m.id, name: m.name, avatar: m.avatar }, accessToken };
}

function tokenChecked(w, senderId, accessToken, extra = {}) {
  return { workspace: { id: w.id }, attendee: { id: senderId }, accessToken, ...extra };
}

const wsFields = ({ id, name, avatar, owner, created }) => ({ id, name, avatar, owner, created });

async function grantedAttend(sock, token, pin, name, what) {
  const r = await L.attend(sock, token, pin, name);
  assert.equal(r.event, 'attendance-granted', `${what}: ${JSON.stringify(r)}`);
  return r.payload;
}

async function reAttendOk(sock, session, what) {
  const r = await L.reAttend(sock, session);
  assert.equal(r.event, 're-attendance-granted', `${what}: ${JSON.stringify(r)}`);
  return r.payload;
}

const refused = (r, text, what) => assert.deepEqual(r, { event: 'alert', payload: text }, what);

async function listOf(sock, w, m, accessToken = m.accessToken) {
  const r = await L.ask(sock, 'attendees', tokenChecked(w, m.id, accessToken), { replies: ['attendees', 'alert', 'destroyed'] });
  assert.equal(r.event, 'attendees', `attendees for ${m.name}: ${JSON.stringify(r)}`);
  return r.payload.attendees;
}

describe('the original server\'s storage file', () => {
  it('our server starts on it: /health counts its workspaces, <file>.original is the original byte for byte, <file> is in our format', async () => {
    const { srv, file } = await importServer();
    assert.equal((await L.health(srv)).workspaces, fx.workspaces.length);
    const copy = `${file}.original`;
    assert.ok(fs.existsSync(copy), `${copy} exists`);
    assert.ok(fs.readFileSync(copy).equals(Buffer.from(fx.text)), `${copy} is byte-for-byte the original file`);
    const ours = JSON.parse(fs.readFileSync(file, 'utf8'));
    assert.ok(ours && typeof ours === 'object' && !Array.isArray(ours), `${file} holds a JSON object`);
    assert.equal(typeof ours.format, 'string', `${file} is in our format (a format field): ${JSON.stringify(ours).slice(0, 300)}`);
    for (const w of fx.workspaces) assert.ok(!Object.prototype.hasOwnProperty.call(ours, w.id), `${file} is no longer keyed by workspace id (${w.id})`);
  });

  it('an old invite token + the right PIN attends: the imported attendees plus the newcomer, the workspace as stored, its call; a wrong PIN is refused; the grant\'s token attends too', async () => {
    // A few wrong PINs per workspace on purpose: keep the guessing limit out of the way.
    const { srv } = await importServer({ max_failed_pins_per_ip: 50 });
    for (const w of fx.workspaces) {
      const what = `${w.name}${w.pin ? ` (PIN ${w.pin})` : ''}`;
      const c = await conn(srv, L.V2_POLL, `newcomer ${w.name}`);
      refused(await L.attend(c, w.token, w.pin ? '0000' : '1234', 'wrong'), TEXT.PIN, `${what}: a wrong PIN`);
      if (w.pin) refused(await L.attend(c, w.token, '', 'wrong'), TEXT.PIN, `${what}: no PIN`);
      const g = await grantedAttend(c, w.token, w.pin, 'newbie', `${what}: old invite token + PIN`);
      assert.deepEqual(wsFields(g.workspace), wsFields(w), `${what}: the workspace as stored`);
      assert.deepEqual(g.workspace.call, w.call, `${what}: the stored call (or null)`);
      assert.deepEqual(g.attendee.name, 'newbie');
      assert.deepEqual(g.attendees, { ...w.attendees, [g.attendee.id]: g.attendee }, `${what}: the imported attendees plus the newcomer`);
      assert.equal(typeof g.accessToken, 'string');

      // Once a right PIN was seen the server keeps its own check value: the old
      // invite token still attends with the PIN, and still not without it.
      const c2 = await conn(srv, L.V4_WS, `second ${w.name}`);
      refused(await L.attend(c2, w.token, w.pin ? '1111' : '4321', 'wrong'), TEXT.PIN, `${what}: a wrong PIN after a right one`);
      const g2 = await grantedAttend(c2, w.token, w.pin, 'second', `${what}: the same old invite token again`);
      assert.deepEqual(g2.attendees, { ...w.attendees, [g.attendee.id]: g.attendee, [g2.attendee.id]: g2.attendee });
      // Whatever workspace token a grant hands out attends with the PIN too.
      for (const [i, token] of [g.workspace.token, g2.workspace.token].entries()) {
        const c3 = await conn(srv, L.V4_POLL, `via grant token ${i} ${w.name}`);
        if (w.pin) refused(await L.attend(c3, token, '0001', 'wrong'), TEXT.PIN, `${what}: grant token ${i} with a wrong PIN`);
        const g3 = await grantedAttend(c3, token, w.pin, `via${i}`, `${what}: the token of grant ${i}`);
        assert.equal(g3.workspace.id, w.id);
      }
      // The newcomer's own access token is one of ours and works.
      const back = await conn(srv, L.V2_WS, `newbie back ${w.name}`);
      const r = await reAttendOk(back, { workspace: g.workspace, attendee: g.attendee, accessToken: g.accessToken }, `${what}: newcomer re-attends`);
      assert.deepEqual(r.attendee, g.attendee);
    }
  });

  it('an old access token re-attends: the stored attendee, list and call, and a new access token of ours that re-attends too', async () => {
    const { srv } = await importServer();
    for (const w of fx.workspaces) {
      for (const m of w.members) {
        const what = `${m.name} of ${w.name}`;
        const c = await conn(srv, L.V4_WS, what);
        const r = await reAttendOk(c, oldSession(w, m), `${what}: old access token`);
        assert.deepEqual(r.attendee, w.attendees[m.id], `${what}: the stored attendee`);
        assert.deepEqual(r.attendees, w.attendees, `${what}: the stored attendee list`);
        assert.deepEqual(r.call, w.call, `${what}: the stored call (or null)`);
        assert.deepEqual(wsFields(r.workspace), wsFields(w), `${what}: the workspace as stored`);
        assert.equal(typeof r.accessToken, 'string');
        assert.notEqual(r.accessToken, m.accessToken, `${what}: a new access token of ours`);
        const c2 = await conn(srv, L.V2_POLL, `${what} (new token)`);
        const r2 = await reAttendOk(c2, oldSession(w, m, r.accessToken), `${what}: the new access token`);
        assert.deepEqual(r2.attendee, w.attendees[m.id]);
        assert.deepEqual(r2.attendees, w.attendees);
      }
      // The workspace token a re-attend hands out attends with the PIN.
      const c = await conn(srv, L.V4_POLL, `owner ${w.name}`);
      const r = await reAttendOk(c, oldSession(w, w.members[0]), `${w.name}: owner`);
      const j = await conn(srv, L.V2_WS, `joiner ${w.name}`);
      await grantedAttend(j, r.workspace.token, w.pin, 'joiner', `${w.name}: the re-attend's workspace token`);
    }
  });

  it('relays: icecandidate and negotiation sent with an old access token reach the target', async () => {
    const { srv } = await importServer();
    const w = withThree()[0];
    const [owner, x, y] = w.members;
    const sy = await conn(srv, L.V4_WS, 'Y');
    const ry = await reAttendOk(sy, oldSession(w, y), 'Y re-attends with its old token');
    const sx = await conn(srv, L.V2_WS, 'X');
    const so = await conn(srv, L.V2_POLL, 'owner');
    const marks = L.mark(sx, so);

    sx.emit('icecandidate', { workspace: { id: w.id }, broadcaster: { id: x.id }, attendee: { id: y.id }, candidate: CANDIDATE, accessToken: x.accessToken });
    assert.deepEqual(await L.waitFor(sy, 'icecandidate'), { attendee: { id: y.id }, broadcaster: { id: x.id }, candidate: CANDIDATE });
    sx.emit('negotiation', { workspace: { id: w.id }, broadcaster: { id: x.id }, attendee: { id: y.id }, message: OFFER, accessToken: x.accessToken });
    assert.deepEqual(await L.waitFor(sy, 'negotiation'), { attendee: { id: x.id }, message: OFFER });
    so.emit('negotiation', { workspace: { id: w.id }, broadcaster: { id: owner.id }, attendee: { id: y.id }, message: OFFER, accessToken: owner.accessToken });
    assert.deepEqual(await L.waitFor(sy, 'negotiation'), { attendee: { id: owner.id }, message: OFFER });
    // The senders got nothing back (no alert).
    await L.quiet(marks);
    // X's socket now speaks for X: Y, with its new token, reaches it.
    sy.emit('icecandidate', { workspace: { id: w.id }, broadcaster: { id: y.id }, attendee: { id: x.id }, candidate: null, accessToken: ry.accessToken });
    assert.deepEqual(await L.waitFor(sx, 'icecandidate'), { attendee: { id: x.id }, broadcaster: { id: y.id }, candidate: null });
  });

  it('the owner kicks with an old access token; the kicked attendee\'s old token is refused afterwards, also after kill -9 and a restart', async () => {
    const { srv, dir, config } = await importServer();
    const w = withThree()[0];
    const [owner, , z] = w.members;
    const so = await conn(srv, L.V4_WS, 'owner');
    so.emit('kick', { workspace: { id: w.id }, attendee: { id: owner.id }, kickedAttendee: { id: z.id, name: z.name }, accessToken: owner.accessToken });
    assert.deepEqual(await L.waitFor(so, 'kicked'), { id: z.id, name: z.name });
    const sz = await conn(srv, L.V2_WS, 'Z');
    refused(await L.reAttend(sz, oldSession(w, z)), TEXT.NOACCESS, 'the kicked attendee\'s old token');
    const rest = { ...w.attendees };
    delete rest[z.id];
    assert.deepEqual(await listOf(so, w, owner), rest, 'the list without the kicked attendee');

    await L.kill9(srv);
    T.closeAll();
    const srv2 = await T.start({ dir, config, secrets });
    const sz2 = await conn(srv2, L.V4_POLL, 'Z again');
    refused(await L.reAttend(sz2, oldSession(w, z)), TEXT.NOACCESS, 'the kicked attendee\'s old token after the restart');
    const so2 = await conn(srv2, L.V2_POLL, 'owner again');
    const r = await reAttendOk(so2, oldSession(w, owner), 'the owner\'s old token after the restart');
    assert.deepEqual(r.attendees, rest);
  });

  it('a non-owner\'s old token (its owner claim names the real owner) may not kick or destroy: ownership comes from the store', async () => {
    const { srv } = await importServer();
    const w = withThree()[0];
    const [owner, x, y] = w.members;
    assert.equal(O.claims(x.accessToken).owner, owner.id, 'precondition: the original put the owner\'s id in every token');
    const sx = await conn(srv, L.V4_WS, 'X');
    refused(await L.ask(sx, 'kick', tokenChecked(w, x.id, x.accessToken, { kickedAttendee: { id: y.id, name: y.name } })), TEXT.UNAUTH, 'kick by a non-owner');
    refused(await L.ask(sx, 'destroy', tokenChecked(w, x.id, x.accessToken)), TEXT.UNAUTH, 'destroy by a non-owner');
    // Claiming to be the owner (whose id the token names) with X's token.
    refused(await L.ask(sx, 'destroy', tokenChecked(w, owner.id, x.accessToken)), TEXT.BADTOKEN, 'destroy as the owner with X\'s token');
    refused(await L.ask(sx, 'kick', tokenChecked(w, owner.id, x.accessToken, { kickedAttendee: { id: y.id, name: y.name } })), TEXT.BADTOKEN, 'kick as the owner with X\'s token');
    const so = await conn(srv, L.V2_WS, 'owner');
    assert.deepEqual(await listOf(so, w, owner), w.attendees, 'nothing changed');
  });

  it('forged and mismatched old tokens are refused', async () => {
    // Several wrong PINs on purpose: keep the guessing limit out of the way.
    const { srv } = await importServer({ max_failed_pins_per_ip: 50 });
    const [w, w2] = withThree();
    const [owner, x, y] = w.members;
    const other = { MAGICK_TOKEN: crypto.randomBytes(32).toString('hex'), SALT_STRING: secrets.SALT_STRING };
    const s = await conn(srv, L.V4_WS, 'forger');
    const reAttendWith = (m, accessToken, ws = w) => L.reAttend(s, oldSession(ws, m, accessToken));

    // Access tokens.
    refused(await reAttendWith(x, O.withClaims(x.accessToken, { owner: x.id })), TEXT.BADTOKEN, 'payload changed (owner claim), signature kept');
    refused(await reAttendWith(x, O.withClaims(x.accessToken, { singningToken: O.claims(y.accessToken).singningToken })), TEXT.BADTOKEN, 'payload changed (signing hash), signature kept');
    refused(await reAttendWith(x, O.resigned(x.accessToken, other.MAGICK_TOKEN)), TEXT.BADTOKEN, 'signed with another MAGICK_TOKEN');
    refused(await reAttendWith(x, O.accessToken({ ...secrets, SALT_STRING: 'another salt' }, w.id, owner.id, x.id)), TEXT.BADTOKEN, 'signed right, hashed with another SALT_STRING');
    refused(await reAttendWith(y, x.accessToken), TEXT.BADTOKEN, 'X\'s old token presented as Y');
    refused(await reAttendWith(owner, x.accessToken), TEXT.BADTOKEN, 'X\'s old token presented as the owner');
    refused(await reAttendWith(x, x.accessToken, w2), TEXT.BADTOKEN, 'X\'s old token presented for another workspace');
    refused(await L.ask(s, 'attendees', tokenChecked(w, y.id, x.accessToken), { replies: ['attendees', 'alert'] }), TEXT.BADTOKEN, 'attendees: X\'s old token as Y');

    // Invite tokens: tampered or signed with another key, even with the right PIN.
    const p = byPin();
    const j = await conn(srv, L.V2_POLL, 'joiner');
    refused(await L.attend(j, O.withClaims(p.token, { iat: O.claims(p.token).iat + 1 }), p.pin, 'forger'), TEXT.PIN, 'invite token: payload changed (iat), signature kept, right PIN');
    refused(await L.attend(j, O.resigned(p.token, other.MAGICK_TOKEN), p.pin, 'forger'), TEXT.PIN, 'invite token signed with another MAGICK_TOKEN, right PIN');
    // A forged hash of a PIN of the forger's choice.
    const forgedHash = O.claims(O.inviteToken(secrets, p.id, '1111')).singningToken;
    refused(await L.attend(j, O.withClaims(p.token, { singningToken: forgedHash }), '1111', 'forger'), TEXT.PIN, 'invite token: payload changed, signature kept');
    refused(await L.attend(j, O.resigned(O.withClaims(p.token, { singningToken: forgedHash }), other.MAGICK_TOKEN), '1111', 'forger'), TEXT.PIN, 'invite token signed with another MAGICK_TOKEN');
    refused(await L.attend(j, O.inviteToken({ ...secrets, SALT_STRING: 'another salt' }, p.id, '1111'), '1111', 'forger'), TEXT.PIN, 'invite token signed right, PIN hashed with another SALT_STRING');
    const open = fx.workspaces.find((v) => v.pin === '');
    refused(await L.attend(j, O.withClaims(open.token, { id: p.id }), '', 'forger'), TEXT.PIN, 'a PIN-less workspace\'s invite token re-aimed at the PIN workspace');
    refused(await L.attend(j, O.withClaims(open.token, { id: p.id }), p.pin, 'forger'), TEXT.PIN, 'the same, with the right PIN');

    const so = await conn(srv, L.V2_WS, 'owner');
    assert.deepEqual(await listOf(so, w, owner), w.attendees, 'nothing changed');
    const po = await conn(srv, L.V2_WS, 'pin owner');
    assert.deepEqual(await listOf(po, p, p.members[0]), p.attendees, 'nobody joined the PIN workspace');
  });

  it('PIN-guessing limits count old invite tokens: after 5 wrong PINs from one client even the right PIN is refused', async () => {
    const { srv } = await importServer({ max_failed_pins_per_ip: 5 });
    const p = byPin();
    const c = await conn(srv, L.V4_WS, 'guesser');
    for (let i = 0; i < 5; i++) refused(await L.attend(c, p.token, `9${i}9${i}`, 'guesser'), TEXT.PIN, `wrong PIN #${i + 1}`);
    refused(await L.attend(c, p.token, p.pin, 'guesser'), PIN_LOCKED, 'the right PIN after 5 wrong ones');
    const c2 = await conn(srv, L.V2_POLL, 'guesser, new socket');
    refused(await L.attend(c2, p.token, p.pin, 'guesser'), PIN_LOCKED, 'the right PIN from the same address on a new socket');
  });

  it('legacy_tokens: the default (auto) keeps old tokens working after a SIGTERM restart; "off" refuses them, our tokens still work', async (t) => {
    const { srv, dir, file, config } = await importServer();
    const w = byPin();
    const [owner, x] = w.members;
    const c = await conn(srv, L.V4_WS, 'x');
    const rx = await reAttendOk(c, oldSession(w, x), 'old access token, first start');
    T.closeAll();
    await L.terminate(srv);

    // Restart on the same file (now in our format), the default config.
    const srv2 = await T.start({ dir, config, secrets });
    assert.equal((await L.health(srv2)).workspaces, fx.workspaces.length, 'every workspace after the restart');
    assert.ok(fs.readFileSync(`${file}.original`).equals(Buffer.from(fx.text)), 'the .original copy is left as it was');
    const c2 = await conn(srv2, L.V2_POLL, 'owner');
    await reAttendOk(c2, oldSession(w, owner), 'old access token after the restart (auto is remembered)');
    const j = await conn(srv2, L.V4_POLL, 'joiner');
    const g = await grantedAttend(j, w.token, w.pin, 'joiner', 'old invite token after the restart');
    T.closeAll();
    await L.terminate(srv2);

    const srv3 = await T.start({ dir, config: { ...config, legacy_tokens: 'off' }, secrets });
    const c3 = await conn(srv3, L.V2_WS, 'off');
    refused(await L.reAttend(c3, oldSession(w, owner)), TEXT.BADTOKEN, 'legacy_tokens = "off": old access token');
    refused(await L.attend(c3, w.token, w.pin, 'late'), TEXT.PIN, 'legacy_tokens = "off": old invite token with the right PIN');
    // Tokens of ours keep working.
    await reAttendOk(c3, oldSession(w, x, rx.accessToken), 'legacy_tokens = "off": our access token');
    if (g.workspace.token !== w.token) {
      await grantedAttend(c3, g.workspace.token, w.pin, 'ours', 'legacy_tokens = "off": the (new) workspace token of a grant');
    } else {
      t.diagnostic('grants hand out the old invite token itself: not checked under "off"');
    }
  });

  it('legacy_tokens = "auto" on a store that was not imported: original-style tokens are refused', async () => {
    const dir = newDir('wrw-ops-');
    const file = path.join(dir, 'store.json');
    const srv = await T.start({ dir, config: { json_storage_file: file }, secrets });
    const c = await conn(srv, L.V4_WS, 'owner');
    const w = await L.create(c, { name: 'native', pin: '1357', attendee: 'nat' });
    const id = w.workspace.id;
    const j = await conn(srv, L.V2_WS, 'joiner');
    refused(await L.attend(j, O.inviteToken(secrets, id, '1357'), '1357', 'old-style'), TEXT.PIN, 'an original-style invite token');
    refused(await L.reAttend(j, { ...w, accessToken: O.accessToken(secrets, id, w.attendee.id, w.attendee.id) }), TEXT.BADTOKEN, 'an original-style access token');
    await L.attendOk(j, w.workspace.token, '1357', 'ours');
  });

  it('tokenDelimiter = "|": the original hashed id|pin|salt and id|attendee|salt; those old tokens work with it, not with the default ":"', async () => {
    const bar = O.fixture(secrets, { delimiter: '|' });
    const w = bar.workspaces.find((v) => v.pin !== '');
    const m = w.members[1];

    const { srv } = await importServer({ tokenDelimiter: '|' }, bar);
    const c = await conn(srv, L.V4_WS, 'joiner');
    const g = await grantedAttend(c, w.token, w.pin, 'bar', 'the old invite token hashed with "|"');
    assert.deepEqual(g.attendees, { ...w.attendees, [g.attendee.id]: g.attendee });
    const c2 = await conn(srv, L.V2_POLL, m.name);
    refused(await L.reAttend(c2, oldSession(w, m, O.accessToken(secrets, w.id, w.owner, m.id))), TEXT.BADTOKEN, 'an access token hashed with ":" instead');
    const r = await reAttendOk(c2, oldSession(w, m), 'the old access token hashed with "|"');
    assert.deepEqual(r.attendee, w.attendees[m.id]);

    // The same file under the default delimiter: the hashes do not match.
    const { srv: colon } = await importServer({}, bar);
    const c3 = await conn(colon, L.V4_WS, 'joiner (":")');
    refused(await L.attend(c3, w.token, w.pin, 'colon'), TEXT.PIN, 'tokenDelimiter ":": the old invite token with the right PIN');
    refused(await L.reAttend(c3, oldSession(w, m)), TEXT.BADTOKEN, 'tokenDelimiter ":": the old access token');
  });

  describe('a file that is neither our format nor the original\'s', () => {
    for (const [name, text] of [['keyed by a workspace id, not a workspace', '{"_abcdefghij": 3}'], ['a JSON array', '[1,2]']]) {
      it(`${name} (${text}): the start stops naming the file, the file is unchanged, no .original is written`, async () => {
        const dir = newDir('wrw-ops-');
        const file = path.join(dir, 'workspaces.json');
        fs.writeFileSync(file, text);
        await L.expectRefusedStart({ dir, config: { json_storage_file: file }, secrets, mentions: file, unchanged: [file], absent: [`${file}.original`] });
      });
    }
  });
});

describe('the original\'s defaults', () => {
  it('without untitled_workspace/anonymous_attendee/default_*_avatar in the config: "Untitled Workspace", "Anonymous Attendee", empty avatars', async () => {
    const base = { ...L.CONFIG };
    for (const k of ['untitled_workspace', 'anonymous_attendee', 'default_workspace_avatar', 'default_attendee_avatar']) delete base[k];
    const dir = newDir('wrw-ops-');
    const srv = await T.start({ dir, base, secrets });
    const c = await conn(srv, L.V4_WS, 'nameless');
    const expected = (r) => {
      assert.equal(r.event, 'created', JSON.stringify(r));
      assert.equal(r.payload.workspace.name, 'Untitled Workspace');
      assert.equal(r.payload.workspace.avatar, '');
      assert.deepEqual(r.payload.attendee, { id: r.payload.attendee.id, name: 'Anonymous Attendee', avatar: '' });
      return r.payload;
    };
    const w = expected(await L.ask(c, 'create', { workspace: {}, attendee: {} }));
    expected(await L.ask(c, 'create', { workspace: { name: '', avatar: null, pin: '' }, attendee: { name: null, avatar: '' } }));
    const j = await conn(srv, L.V2_POLL, 'nameless guest');
    const g = await L.ask(j, 'attend', { workspace: { token: w.workspace.token, pin: '' }, attendee: {} });
    assert.equal(g.event, 'attendance-granted', JSON.stringify(g));
    assert.deepEqual(g.payload.attendee, { id: g.payload.attendee.id, name: 'Anonymous Attendee', avatar: '' });
  });
});
