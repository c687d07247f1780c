'use strict';
// The original (Node) webRTCWorkspaces server's recipe for its tokens and its
// storage file, so that the tests can hand our server what an operator
// switching over would have: the original's JSON file and the tokens its
// users keep in localStorage. The original used `jsonwebtoken` (HS256, which
// adds `iat`) and native `bcrypt`; bcryptjs makes the same $2b$ hashes.
//
// workspace (invite) token: {id, singningToken: bcrypt(wsId : pin : SALT_STRING)}
//   (pin '' for a PIN-less workspace; "singningToken" is spelled so)
// access token of attendee A: {id, owner: OWNER's attendee id, singningToken: bcrypt(wsId : A : SALT_STRING)}
// storage file: { [wsId]: {id, name, avatar, owner, created, token, attendees: {[attId]: {id, name, avatar}},
//   socketMap: {[attId]: socket id}, call?} }

const crypto = require('node:crypto');
const jwt = require('jsonwebtoken');
const bcrypt = require('bcryptjs');

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SOCKET_CHARS = `${ALNUM}-_`;

function randomString(chars, len) {
  let s = '';
  for (let i = 0; i < len; i++) s += chars[crypto.randomInt(chars.length)];
  return s;
}

// An id as the original made them: '_' + 10 ASCII letters/digits.
function newId() {
  return `_${randomString(ALNUM, 10)}`;
}

// The original's bcrypt cost; each hash takes ~60-200 ms in JS.
const ROUNDS = 10;

function signingToken(secrets, wsId, secondPart, { delimiter = ':', rounds = ROUNDS } = {}) {
  return bcrypt.hashSync([wsId, secondPart, secrets.SALT_STRING].join(delimiter), rounds);
}

// The original's workspace (invite) token.
function inviteToken(secrets, wsId, pin = '', opts = {}) {
  return jwt.sign({ id: wsId, singningToken: signingToken(secrets, wsId, String(pin), opts) }, secrets.MAGICK_TOKEN);
}

// The original's access token of attendee `attId` (owner = the OWNER's attendee id, for every attendee).
function accessToken(secrets, wsId, ownerId, attId, opts = {}) {
  return jwt.sign({ id: wsId, owner: ownerId, singningToken: signingToken(secrets, wsId, attId, opts) }, secrets.MAGICK_TOKEN);
}

const { claimsOf: claims } = require('../harness.js');

// The same header and signature over changed claims (a tampered token).
function withClaims(token, changes) {
  const [header, , sig] = token.split('.');
  const payload = Buffer.from(JSON.stringify({ ...claims(token), ...changes })).toString('base64url');
  return `${header}.${payload}.${sig}`;
}

// The same claims, signed with another key.
function resigned(token, key) {
  return jwt.sign(claims(token), key, { noTimestamp: true });
}

// What the fixture holds: a PIN-protected workspace, one with a call object,
// one without a `call` key; 2-3 attendees each (the first is the owner). One
// workspace was created days ago: its age must not expire it on import.
const SPEC = [
  {
    name: 'Design review', avatar: 'review.png', pin: '2468', ageMs: 2 * 3600e3, call: null,
    attendees: [['Olga', 'olga.png'], ['Pavel', 'pavel.png'], ['Rita', 'rita.png']],
  },
  {
    name: 'Standup', avatar: 'standup.png', pin: '', ageMs: 3 * 86400e3,
    call: { id: 'call-42', video: true, started: 1700000000000, peers: ['a', 'b'] },
    attendees: [['Sam', 'sam.png'], ['Tess', 'tess.png'], ['Umar', 'umar.png']],
  },
  {
    name: 'Pairing', avatar: 'pairing.png', pin: '',
    ageMs: 15 * 60e3,
    attendees: [['Vic', 'vic.png'], ['Wen', 'wen.png']],
  },
];

// Builds the original's storage file (of SPEC's workspaces, or `spec`'s) and
// every token its users hold.
// Returns {text (the file's bytes as a string), store (the parsed object),
// workspaces: [{id, name, avatar, owner, created, pin, token, call (null when
// absent), attendees: {id -> {id,name,avatar}}, members: [{id, name, avatar,
// accessToken}] (owner first)}]}.
function fixture(secrets, { delimiter = ':', spec: specs = SPEC } = {}) {
  const now = Date.now();
  const store = {};
  const workspaces = [];
  for (const spec of specs) {
    const id = newId();
    const members = spec.attendees.map(([name, avatar]) => ({ id: newId(), name, avatar }));
    const owner = members[0].id;
    const attendees = {};
    const socketMap = {};
    for (const m of members) {
      attendees[m.id] = { id: m.id, name: m.name, avatar: m.avatar };
      socketMap[m.id] = randomString(SOCKET_CHARS, 20);
    }
    const token = inviteToken(secrets, id, spec.pin, { delimiter });
    const created = Math.round(now - spec.ageMs);
    const entry = { id, name: spec.name, avatar: spec.avatar, owner, created, token, attendees, socketMap };
    if ('call' in spec) entry.call = spec.call;
    store[id] = entry;
    for (const m of members) m.accessToken = accessToken(secrets, id, owner, m.id, { delimiter });
    workspaces.push({
      id, name: spec.name, avatar: spec.avatar, owner, created, pin: spec.pin, token,
      call: 'call' in spec ? spec.call : null, attendees, members,
    });
  }
  return { text: JSON.stringify(store), store, workspaces };
}

module.exports = { newId, inviteToken, accessToken, claims, withClaims, resigned, fixture, SPEC, ROUNDS };
