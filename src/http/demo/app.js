// The demo page: create or join a workspace, call every attendee, and the
// self-test panel. It speaks docs/PROTOCOL.md to the server that served it.

import { io } from './vendor/socket.io.esm.min.js';
import qrcode from './vendor/qrcode.mjs';
import * as session from './session.js';
import { Mesh } from './mesh.js';
import { describeIceServers, selectedPair, testTurn } from './selftest.js';

const $ = (id) => document.getElementById(id);
const STATS_EVERY_MS = 1000;

const state = {
  /** {workspace, attendee, accessToken} once created or granted */
  s: null,
  /** attendee id → {id, name, avatar} */
  attendees: new Map(),
  /** attendee id → {mic, cam} as they announced them */
  media: new Map(),
  iceServers: null,
  call: null, // {id} while in a call
  joined: null, // resolves once the call's local media is open
  stream: null,
  mic: true,
  cam: true,
  createdWithPin: false, // `created` does not say whether there is a PIN
  pending: null, // 'create' | 'attend' | 're-attend': what a bare alert answers
};

// ------------------------------------------------------------ announcing

function status(text) {
  $('status').textContent = text;
}

function error(text) {
  $('error').textContent = text;
  $('error').hidden = !text;
}

const nameOf = (id) => (state.attendees.get(id) || {}).name || 'someone';
const isOwner = () => Boolean(state.s && state.s.workspace.owner === state.s.attendee.id);

// ------------------------------------------------------------ the socket

const socket = io({ transports: ['polling', 'websocket'] });
let iceReady;
const iceServers = new Promise((resolve) => { iceReady = resolve; });

/** Emits `name` with this attendee's workspace id and access token added. */
function send(name, payload = {}) {
  const s = state.s;
  socket.emit(name, {
    ...payload,
    workspace: { ...(payload.workspace || {}), id: s.workspace.id },
    accessToken: s.accessToken,
  });
}

const mesh = new Mesh({
  me: () => state.s.attendee.id,
  iceServers: () => state.iceServers || [],
  stream: () => state.stream,
  send,
  onStream: (peerId, stream) => showRemote(peerId, stream),
  onChange: () => renderStats(),
});

socket.on('connect', () => {
  socket.emit('iceservers', {});
  const stored = state.s || session.load();
  if (stored) {
    state.pending = 're-attend';
    status('Reconnecting to your workspace…');
    socket.emit('re-attend', { workspace: stored.workspace, attendee: stored.attendee, accessToken: stored.accessToken });
    state.s = stored;
  } else {
    showForms();
    status('Connected to the server.');
  }
});

socket.on('disconnect', () => status('Connection to the server lost; reconnecting…'));
socket.on('connect_error', (e) => status(`Cannot reach the server: ${e.message}`));

socket.on('iceservers', (servers) => {
  state.iceServers = Array.isArray(servers) ? servers : [];
  const list = $('ice-servers');
  list.replaceChildren(...(describeIceServers(state.iceServers).map((t) => li(t))));
  if (!state.iceServers.length) list.replaceChildren(li('none (host candidates only)'));
  iceReady();
});

socket.on('created', (msg) => {
  state.pending = null;
  grant(msg, state.createdWithPin);
  status(`Workspace "${msg.workspace.name}" created. Share the invite link.`);
});

socket.on('attendance-granted', (msg) => {
  state.pending = null;
  grant(msg);
  status(`You joined "${msg.workspace.name}".`);
  if (msg.workspace.call) status(`You joined "${msg.workspace.name}"; a call is going on: press Start call to join it.`);
});

socket.on('re-attendance-granted', async (msg) => {
  state.pending = null;
  const wasInCall = Boolean(state.call);
  grant(msg);
  status(`Back in "${msg.workspace.name}".`);
  const call = msg.call || msg.workspace.call;
  if (call && call.id && !wasInCall) await joinCall(call, null);
});

socket.on('attendees', ({ attendees }) => {
  state.attendees = new Map(Object.entries(attendees || {}));
  renderAttendees();
});

socket.on('attend', (attendee) => {
  const known = state.attendees.has(attendee.id);
  state.attendees.set(attendee.id, attendee);
  renderAttendees();
  if (!known) status(`${attendee.name} joined.`);
});

socket.on('leave', (attendee) => {
  status(`${nameOf(attendee.id)} left.`);
  drop(attendee.id);
});

socket.on('kicked', (who) => {
  if (state.s && who.id === state.s.attendee.id) {
    end(`You were removed from "${state.s.workspace.name}" by its owner.`);
    return;
  }
  status(`${who.name || nameOf(who.id)} was removed by the owner.`);
  drop(who.id);
});

socket.on('destroyed', () => {
  if (state.pending === 'attend') {
    state.pending = null;
    error('This workspace no longer exists: it was destroyed.');
    return;
  }
  end(state.s ? `The workspace "${state.s.workspace.name}" was destroyed by its owner.` : 'The workspace was destroyed.');
});

socket.on('full', () => {
  state.pending = null;
  error('This workspace is full: no more attendees can join it.');
});

socket.on('alert', (text) => {
  const was = state.pending;
  state.pending = null;
  if (was === 're-attend') {
    end(`Your stored session is no longer valid: ${text}`);
    return;
  }
  error(String(text));
});

socket.on('ring', async (msg) => {
  if (!state.call) joinCall(msg.call, msg.caller.id);
  await state.joined;
  await mesh.onRing(msg);
  status(`In a call with ${callSize()}.`);
});
socket.on('answer', async (msg) => {
  await mesh.onAnswer(msg);
  status(`In a call with ${callSize()}.`);
});
socket.on('icecandidate', (msg) => mesh.onCandidate(msg));
socket.on('hangup', ({ attendee }) => {
  mesh.forget(attendee.id);
  removeRemote(attendee.id);
  status(`${nameOf(attendee.id)} hung up.`);
  if (state.call && mesh.ids().length === 0) leaveCall('Everyone else hung up: the call ended.');
});
socket.on('mic-toggle', ({ attendee, state: on }) => announceMedia(attendee.id, 'mic', on));
socket.on('cam-toggle', ({ attendee, state: on }) => announceMedia(attendee.id, 'cam', on));

// ------------------------------------------------------------ workspace

function grant(msg, pin) {
  const s = { workspace: msg.workspace, attendee: msg.attendee, accessToken: msg.accessToken };
  // Whether the invite link asks for a PIN: said at create, kept in the session after.
  s.pinned = pin !== undefined ? Boolean(pin) : Boolean(state.s && state.s.pinned);
  state.s = s;
  session.save(s);
  state.attendees = new Map(Object.entries(msg.attendees || { [msg.attendee.id]: msg.attendee }));
  error('');
  $('create').hidden = true;
  $('join').hidden = true;
  $('workspace').hidden = false;
  $('workspace-title').textContent = `Workspace: ${msg.workspace.name}`;
  const link = session.inviteLink(msg.workspace, s.pinned);
  $('invite-link').value = link;
  $('invite-qr').src = qr(link);
  $('destroy').hidden = !isOwner();
  $('leave').hidden = isOwner();
  renderAttendees();
  renderCallButtons();
}

/** The page after a kick, a destroy or a leave: the session is gone. */
function end(text) {
  leaveCall(null, false);
  session.clear();
  state.s = null;
  state.pending = null;
  state.attendees.clear();
  state.media.clear();
  $('workspace').hidden = true;
  showForms();
  if (text) error(text);
  status(text || 'You left the workspace.');
}

function showForms() {
  const inv = session.invite();
  $('create').hidden = Boolean(inv);
  $('join').hidden = !inv;
  $('join-pin').hidden = !(inv && inv.pin);
}

/** An attendee is gone from the workspace (left, kicked, lapsed). */
function drop(id) {
  state.attendees.delete(id);
  state.media.delete(id);
  mesh.forget(id);
  removeRemote(id);
  renderAttendees();
}

function qr(text) {
  const code = qrcode(0, 'M');
  code.addData(text);
  code.make();
  return code.createDataURL(4, 2);
}

const li = (text) => Object.assign(document.createElement('li'), { textContent: text });

function renderAttendees() {
  const list = $('attendees');
  list.replaceChildren();
  for (const a of state.attendees.values()) {
    const item = document.createElement('li');
    const name = Object.assign(document.createElement('span'), { id: `name${a.id}`, textContent: a.name });
    item.append(name);
    if (state.s && a.id === state.s.workspace.owner) item.append(' (owner)');
    if (state.s && a.id === state.s.attendee.id) item.append(' (you)');
    if (isOwner() && a.id !== state.s.attendee.id) {
      const kick = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Kick' });
      kick.setAttribute('aria-describedby', name.id);
      kick.onclick = () => send('kick', { attendee: { id: state.s.attendee.id }, kickedAttendee: { id: a.id, name: a.name } });
      item.append(kick);
    }
    list.append(item);
  }
}

// ------------------------------------------------------------ the call

const callSize = () => {
  const n = mesh.ids().length;
  return n === 1 ? `1 other attendee` : `${n} other attendees`;
};

async function localMedia() {
  if (state.stream) return state.stream;
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  } catch (e) {
    error(`No camera or microphone (${e.name}): you receive the others but send nothing.`);
    state.stream = null;
    return null;
  }
  for (const t of state.stream.getAudioTracks()) t.enabled = state.mic;
  for (const t of state.stream.getVideoTracks()) t.enabled = state.cam;
  $('local').querySelector('video').srcObject = state.stream;
  return state.stream;
}

/**
 * Joins call `call` ({id}) and rings every attendee but `except` (who rang
 * us). `state.joined` is set at once: rings that arrive while the camera is
 * still opening wait for it, so that every connection sends our media.
 */
async function joinCall(call, except) {
  state.call = { id: call.id };
  renderCallButtons();
  status('Starting the call…');
  state.joined = iceServers.then(localMedia);
  await state.joined;
  if (!state.mic) send('mic-toggle', { attendee: { id: state.s.attendee.id }, state: false });
  if (!state.cam) send('cam-toggle', { attendee: { id: state.s.attendee.id }, state: false });
  const others = [...state.attendees.keys()].filter((id) => id !== state.s.attendee.id && id !== except);
  await Promise.all(others.filter((id) => !mesh.pc(id)).map((id) => mesh.ring(id, state.call)));
  status(others.length || except ? 'Calling…' : 'Nobody else is here yet: share the invite link.');
}

/** `announce`: tell the room (not after a kick or destroy: the server would refuse it). */
function leaveCall(text, announce = true) {
  if (announce && state.call && state.s) send('hangup', { attendee: { id: state.s.attendee.id }, call: state.call });
  state.call = null;
  mesh.closeAll();
  for (const fig of document.querySelectorAll('figure.remote')) fig.remove();
  if (state.stream) for (const t of state.stream.getTracks()) t.stop();
  state.stream = null;
  $('local').querySelector('video').srcObject = null;
  renderCallButtons();
  if (text) status(text);
}

function renderCallButtons() {
  $('start-call').hidden = Boolean(state.call);
  $('hang-up').hidden = !state.call;
}

/** A fresh <video> per connection: a reconnected peer never shows a frozen frame. */
function showRemote(peerId, stream) {
  let fig = $(`fig${peerId}`);
  if (!fig) {
    fig = document.createElement('figure');
    fig.id = `fig${peerId}`;
    fig.className = 'remote';
    fig.setAttribute('aria-labelledby', `cap${peerId}`);
    const cap = Object.assign(document.createElement('figcaption'), { id: `cap${peerId}` });
    const media = Object.assign(document.createElement('p'), { className: 'media-state' });
    fig.append(document.createElement('video'), cap, media);
    $('videos').append(fig);
  }
  const video = Object.assign(document.createElement('video'), { autoplay: true, playsInline: true, srcObject: stream });
  fig.querySelector('video').replaceWith(video);
  fig.querySelector('figcaption').textContent = nameOf(peerId);
  renderMedia(peerId);
  video.play().catch(() => { /* autoplay refused: the attribute retries on interaction */ });
}

function removeRemote(peerId) {
  const fig = $(`fig${peerId}`);
  if (fig) fig.remove();
  renderStats();
}

function announceMedia(id, kind, on) {
  const m = state.media.get(id) || { mic: true, cam: true };
  m[kind] = Boolean(on);
  state.media.set(id, m);
  renderMedia(id);
  status(`${nameOf(id)} turned the ${kind === 'mic' ? 'microphone' : 'camera'} ${on ? 'on' : 'off'}.`);
}

function renderMedia(id) {
  const fig = $(`fig${id}`);
  if (!fig) return;
  const m = state.media.get(id) || { mic: true, cam: true };
  fig.querySelector('.media-state').textContent = `Microphone ${m.mic ? 'on' : 'off'} · Camera ${m.cam ? 'on' : 'off'}`;
}

function toggle(kind) {
  state[kind] = !state[kind];
  const on = state[kind];
  $(kind).setAttribute('aria-pressed', String(on));
  if (state.stream) {
    const tracks = kind === 'mic' ? state.stream.getAudioTracks() : state.stream.getVideoTracks();
    for (const t of tracks) t.enabled = on;
  }
  if (state.s) send(kind === 'mic' ? 'mic-toggle' : 'cam-toggle', { attendee: { id: state.s.attendee.id }, state: on });
  status(`Your ${kind === 'mic' ? 'microphone' : 'camera'} is ${on ? 'on' : 'off'}.`);
}

// ------------------------------------------------------------ self-test

async function renderStats() {
  const rows = await Promise.all(mesh.ids().map(async (id) => {
    const pc = mesh.pc(id);
    const p = pc ? await selectedPair(pc).catch(() => null) : null;
    const row = document.createElement('tr');
    const cells = [
      nameOf(id),
      p ? p.state : 'closed',
      p && p.local ? `${p.local} / ${p.remote}` : 'none selected yet',
      p && p.rttMs !== null ? `${p.rttMs} ms` : '—',
    ];
    row.append(...cells.map((t, i) => Object.assign(document.createElement(i ? 'td' : 'th'), { textContent: t })));
    row.firstChild.scope = 'row';
    return row;
  }));
  $('peer-stats').replaceChildren(...rows);
}
setInterval(renderStats, STATS_EVERY_MS);

async function runTurnTest() {
  const out = $('turn-result');
  out.textContent = 'Testing TURN…';
  $('test-turn').disabled = true;
  try {
    const servers = await iceServers.then(() => state.iceServers);
    const r = await testTurn(servers);
    out.textContent = r.text;
  } catch (e) {
    out.textContent = `The TURN test failed to run: ${e.message}`;
  } finally {
    $('test-turn').disabled = false;
  }
}

// ------------------------------------------------------------ the controls

$('create-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  const pin = String(f.get('pin') || '').trim();
  state.pending = 'create';
  state.createdWithPin = Boolean(pin);
  error('');
  status('Creating the workspace…');
  socket.emit('create', {
    workspace: { name: String(f.get('name') || '').trim(), pin, avatar: '' },
    attendee: { name: String(f.get('me') || '').trim(), avatar: '' },
    nonce: '',
  });
});

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const inv = session.invite();
  if (!inv) return;
  const f = new FormData(e.target);
  state.pending = 'attend';
  error('');
  status('Joining…');
  socket.emit('attend', {
    workspace: { token: inv.token, pin: String(f.get('pin') || '').trim() },
    attendee: { name: String(f.get('me') || '').trim(), avatar: '' },
    nonce: '',
  });
});

$('start-call').addEventListener('click', () => joinCall({ id: `call-${Date.now().toString(36)}` }, null));
$('hang-up').addEventListener('click', () => leaveCall('You hung up.'));
$('mic').addEventListener('click', () => toggle('mic'));
$('cam').addEventListener('click', () => toggle('cam'));
$('leave').addEventListener('click', () => {
  send('leave', { attendee: state.s.attendee });
  end(null);
});
$('destroy').addEventListener('click', () => send('destroy', { attendee: { id: state.s.attendee.id } }));
$('test-turn').addEventListener('click', runTurnTest);
window.addEventListener('hashchange', () => { if (!state.s) showForms(); });
