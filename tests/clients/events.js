'use strict';
// The token-checked events as the suites exercise them: which events there
// are, their sender field and whether they are owner-only come from the
// server (`--list-events`, harness.listEvents); what a valid payload of each
// looks like, and which field names its target, is the suites' own knowledge
// (docs/PROTOCOL.md), kept here once for the protocol and hostile suites.

const h = require('./harness.js');

const SDP_OFFER = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n';
const SDP_ANSWER = 'v=0\r\no=- 1234567890123456789 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n';
const CANDIDATE = { candidate: 'candidate:842163049 1 udp 1677729535 192.0.2.7 46154 typ srflx', sdpMid: '0', sdpMLineIndex: 0 };
const SENT_CALL = { id: 'call-7f3a', video: true };

const clone = (v) => JSON.parse(JSON.stringify(v));

// name -> {target (the field naming the addressed member, if any), build}.
// build({W, s, t}): a valid payload from member s to member t in workspace W
// (W: {id, name, avatar, ...}; a member: {me: {id, name, avatar}, token}).
// Every call makes new objects: callers mutate them.
const PAYLOADS = {
  icecandidate: {
    target: 'attendee',
    build: ({ W, s, t }) => ({ workspace: { id: W.id }, attendee: { id: t.me.id }, broadcaster: { id: s.me.id }, accessToken: s.token, candidate: clone(CANDIDATE) }),
  },
  negotiation: {
    target: 'attendee',
    build: ({ W, s, t }) => ({
      workspace: { id: W.id }, attendee: { id: t.me.id }, broadcaster: { id: s.me.id }, accessToken: s.token,
      message: { type: 'offer', data: { type: 'offer', sdp: SDP_OFFER } },
    }),
  },
  're-attend': {
    build: ({ W, s }) => ({ workspace: { id: W.id, name: W.name, avatar: W.avatar }, attendee: { ...s.me }, accessToken: s.token }),
  },
  attendees: {
    build: ({ W, s }) => ({ workspace: { id: W.id }, attendee: { id: s.me.id }, accessToken: s.token }),
  },
  leave: {
    build: ({ W, s }) => ({ workspace: { id: W.id }, attendee: { ...s.me }, accessToken: s.token }),
  },
  kick: {
    target: 'kickedAttendee',
    build: ({ W, s, t }) => ({ workspace: { id: W.id }, attendee: { id: s.me.id }, kickedAttendee: { id: t.me.id, name: t.me.name }, accessToken: s.token }),
  },
  destroy: {
    build: ({ W, s }) => ({ workspace: { id: W.id }, attendee: { id: s.me.id }, accessToken: s.token }),
  },
  ring: {
    target: 'callee',
    build: ({ W, s, t }) => ({
      workspace: { id: W.id }, attendee: { ...s.me }, accessToken: s.token, call: clone(SENT_CALL),
      callee: { id: t.me.id }, offer: { type: 'offer', sdp: SDP_OFFER }, nonce: 'ring-1',
    }),
  },
  answer: {
    target: 'caller',
    build: ({ W, s, t }) => ({
      workspace: { id: W.id }, attendee: { ...s.me }, call: clone(SENT_CALL), caller: { id: t.me.id },
      answer: { type: 'answer', sdp: SDP_ANSWER }, accessToken: s.token, nonce: 'answer-1',
    }),
  },
  busy: {
    build: ({ W, s, t }) => ({ workspace: { id: W.id }, attendee: { ...s.me }, call: clone(SENT_CALL), caller: { id: t.me.id }, accessToken: s.token, nonce: 'busy-1' }),
  },
  hangup: {
    build: ({ W, s }) => ({ workspace: { id: W.id }, attendee: { ...s.me }, call: clone(SENT_CALL), accessToken: s.token }),
  },
  'mic-toggle': {
    build: ({ W, s }) => ({ workspace: { id: W.id }, attendee: { ...s.me }, state: false, accessToken: s.token }),
  },
  'cam-toggle': {
    build: ({ W, s }) => ({ workspace: { id: W.id }, attendee: { ...s.me }, state: true, accessToken: s.token }),
  },
};

// The unguarded events the suites test by name.
const UNGUARDED = ['iceservers', 'create', 'attend'];

// The server's token-checked events, each with its payload builder:
// {specs: [{name, sender, ownerOnly, restoresLapsed, target, build}] (those
// the suites can build), unbuildable: names the server lists and the suites
// have no payload for, unlisted: names the suites know and the server does
// not list (guarded or not)}.
function guarded() {
  const list = h.listEvents();
  const listed = list.filter((e) => e.guarded);
  const specs = listed.filter((e) => PAYLOADS[e.name]).map((e) => ({
    name: e.name,
    sender: e.sender,
    ownerOnly: e.owner_only,
    restoresLapsed: Boolean(e.restores_lapsed),
    target: PAYLOADS[e.name].target,
    build: PAYLOADS[e.name].build,
  }));
  const names = new Set(listed.map((e) => e.name));
  const unguarded = new Set(list.filter((e) => !e.guarded).map((e) => e.name));
  return {
    specs,
    byName: Object.fromEntries(specs.map((s) => [s.name, s])),
    unbuildable: [...names].filter((n) => !PAYLOADS[n]),
    unlisted: [...Object.keys(PAYLOADS).filter((n) => !names.has(n)), ...UNGUARDED.filter((n) => !unguarded.has(n))],
    unguardedUnknown: [...unguarded].filter((n) => !UNGUARDED.includes(n)),
  };
}

module.exports = { PAYLOADS, UNGUARDED, guarded, clone, SDP_OFFER, SDP_ANSWER, CANDIDATE, SENT_CALL };
