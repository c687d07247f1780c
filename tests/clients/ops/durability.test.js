'use strict';
// Issue #4, durability of the file store with the real binary: kill -9 and
// restart on the same json_storage_file (same MAGICK_TOKEN/SALT_STRING), a
// kill -9 in the middle of a burst of creates, kill -9 at random moments of a
// mixed load, a torn or corrupt journal, and a corrupt file.
//
// With json_storage_file and no flush_window_ms (durable group commit), the
// replies `created`, `attendance-granted`, `re-attendance-granted` (restoring
// a lapsed attendee) and the announcements `kicked`/`leave`/`destroyed` are
// sent only once the change is fsynced. The store is a snapshot `<file>` plus
// a journal `<file>.journal`, so what is durable is decided from the replies,
// never from the file's text.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const L = require('../harness.js');
const { TEXT } = L;

const WRONG_PIN = TEXT.PIN;
const { ID_RE } = L;

const T = L.tracked(afterEach);
const { start, conn, closeAll } = T;
const newDir = T.dir;

function session(reply) {
  return { workspace: reply.workspace, attendee: reply.attendee, accessToken: reply.accessToken };
}

describe('file store: restart durability', () => {
  it('after kill -9, invite tokens still join with their PIN, access tokens re-attend and attendee lists are intact', async () => {
    const dir = newDir('wrw-ops-');
    const file = path.join(dir, 'store.json');
    const secrets = L.newSecrets();
    // The default: no flush_window_ms, so every reply follows its fsync.
    const config = { json_storage_file: file };
    let srv = await start({ dir, config, secrets });

    const owner1 = await conn(srv, L.V4_WS, 'owner1');
    const w1 = await L.create(owner1, { name: 'pinned', pin: '4321', attendee: 'alice' });
    const guest1 = await conn(srv, L.V2_POLL, 'guest1');
    const g1 = await L.attendOk(guest1, w1.workspace.token, '4321', 'bob');
    const guest2 = await conn(srv, L.V2_WS, 'guest2');
    const g2 = await L.attendOk(guest2, w1.workspace.token, 4321, 'carol');
    const owner2 = await conn(srv, L.V4_POLL, 'owner2');
    const w2 = await L.create(owner2, { name: 'open', attendee: 'dave' });
    const attendees1 = g2.attendees;
    assert.deepEqual(Object.keys(attendees1).sort(), [w1.attendee.id, g1.attendee.id, g2.attendee.id].sort());

    // Acknowledged means on disk: kill -9 right after the last reply.
    await L.kill9(srv);
    closeAll();
    assert.doesNotThrow(() => JSON.parse(fs.readFileSync(file, 'utf8')), `${file} is valid JSON after kill -9`);

    srv = await start({ dir, config, secrets });
    const h = await L.health(srv);
    assert.equal(h.workspaces, 2, 'both workspaces are loaded');

    // The invite token still joins, with its PIN only.
    const newcomer = await conn(srv, L.V4_WS, 'newcomer');
    const wrong = await L.attend(newcomer, w1.workspace.token, '0000', 'eve');
    assert.deepEqual(wrong, { event: 'alert', payload: WRONG_PIN });
    const n = await L.attendOk(newcomer, w1.workspace.token, '4321', 'eve');
    assert.equal(n.workspace.id, w1.workspace.id);
    assert.equal(n.workspace.owner, w1.attendee.id);
    assert.equal(n.workspace.created, w1.workspace.created);
    assert.deepEqual(n.attendees, { ...attendees1, [n.attendee.id]: n.attendee },
      'the attendee list after the restart is the one before, plus the newcomer');
    const n2 = await conn(srv, L.V2_POLL, 'newcomer2');
    await L.attendOk(n2, w2.workspace.token, '', 'frank');

    // Stored access tokens re-attend (owner and guests), with the same ids.
    for (const [label, variant, s] of [['owner1', L.V2_WS, session(w1)], ['guest1', L.V4_POLL, session(g1)], ['guest2', L.V2_POLL, session(g2)]]) {
      const c = await conn(srv, variant, `${label}-after-restart`);
      const r = await L.reAttend(c, s);
      assert.equal(r.event, 're-attendance-granted', `${label}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.payload.attendee, s.attendee);
      const { id, name, avatar, owner, created, token } = r.payload.workspace;
      assert.deepEqual({ id, name, avatar, owner, created, token }, w1.workspace);
      assert.deepEqual(r.payload.attendees, { ...attendees1, [n.attendee.id]: n.attendee });
      assert.equal(r.payload.accessToken, s.accessToken);
    }
    const o2 = await conn(srv, L.V4_WS, 'owner2-after-restart');
    const r2 = await L.reAttend(o2, session(w2));
    assert.equal(r2.event, 're-attendance-granted', JSON.stringify(r2));
    assert.deepEqual(Object.keys(r2.payload.attendees).length, 2);
    assert.deepEqual(r2.payload.attendees[w2.attendee.id], w2.attendee);
  });
});

describe('file store: lapsed and kicked attendees across a restart', () => {
  it('an attendee lapsed by the grace may still re-attend after kill -9 and restart; a kicked one may not', async () => {
    const dir = newDir('wrw-ops-');
    const file = path.join(dir, 'store.json');
    const secrets = L.newSecrets();
    // flush_window_ms = 0: every change is on disk before its reply/announcement.
    const config = { json_storage_file: file, flush_window_ms: 0, presence_grace_secs: 1, max_capacity_of_workspace: 4 };
    let srv = await start({ dir, config, secrets });
    const owner = await conn(srv, L.V4_WS, 'owner');
    const w = await L.create(owner, { name: 'mixed' });
    const sleeper = await conn(srv, L.V2_POLL, 'sleeper');
    const s = await L.attendOk(sleeper, w.workspace.token, '', 'sleeper');
    await L.waitFor(owner, 'attend');
    const kicked = await conn(srv, L.V2_WS, 'kicked');
    const k = await L.attendOk(kicked, w.workspace.token, '', 'kicked');
    await L.waitFor(owner, 'attend');
    owner.emit('kick', { workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, kickedAttendee: { id: k.attendee.id, name: 'kicked' }, accessToken: w.accessToken });
    assert.deepEqual(await L.waitFor(owner, 'kicked'), { id: k.attendee.id, name: 'kicked' });
    L.vanish(sleeper);
    assert.deepEqual(await L.waitFor(owner, 'leave', { timeout: 5000 }), s.attendee);
    // The owner's `attendees` round trip orders after the lapse on the server.
    const list = await L.ask(owner, 'attendees', { workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, accessToken: w.accessToken }, { replies: ['attendees', 'alert'] });
    assert.deepEqual(list.payload, { attendees: { [w.attendee.id]: w.attendee } });
    await L.kill9(srv);
    closeAll();

    srv = await start({ dir, config, secrets });
    const c1 = await conn(srv, L.V4_POLL, 'kicked-again');
    assert.deepEqual(await L.reAttend(c1, session(k)), { event: 'alert', payload: 'Invalid access token. Access is not allowed.' });
    const c2 = await conn(srv, L.V2_WS, 'sleeper-wakes');
    const r = await L.reAttend(c2, session(s));
    assert.equal(r.event, 're-attendance-granted', JSON.stringify(r));
    assert.deepEqual(r.payload.attendee, s.attendee);
    assert.deepEqual(r.payload.attendees, { [w.attendee.id]: w.attendee, [s.attendee.id]: s.attendee });
  });
});

// Several sockets create concurrently, each sending one create every
// `everyMs` (a paced load, so that the burst spans many flush windows) with at
// most `inflight` outstanding; the server is killed with SIGKILL once
// `killAfter` replies arrived. Returns the created replies with their arrival
// time and the kill time.
async function burst(srv, { total = 500, socketsN = 8, everyMs = 40, inflight = 4, killAfter = 300 }) {
  const clients = [];
  for (let i = 0; i < socketsN; i++) {
    clients.push(await conn(srv, i % 2 ? L.V4_WS : L.V2_WS, `creator${i}`));
  }
  const created = [];
  let sent = 0;
  let killedAt = null;
  let resolveKill;
  const killed = new Promise((r) => { resolveKill = r; });
  const timers = [];
  const started = performance.now();
  for (const c of clients) {
    let outstanding = 0;
    const send = () => {
      if (sent >= total || killedAt !== null || outstanding >= inflight) return;
      sent++;
      outstanding++;
      c.emit('create', { workspace: { name: `b${sent}`, pin: String(sent) }, attendee: { name: `o${sent}` }, nonce: sent });
    };
    c.on('created', (p) => {
      outstanding--;
      if (killedAt !== null) return;
      created.push({ at: performance.now(), pin: String(p.nonce), reply: p });
      if (created.length === killAfter) {
        killedAt = performance.now();
        srv.expectingExit = true;
        srv.child.kill('SIGKILL');
        resolveKill();
      }
    });
    send();
    timers.push(setInterval(send, everyMs));
  }
  let t;
  try {
    await Promise.race([killed, new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`only ${created.length} of ${killAfter} created replies within 30 s`)), 30000);
    })]);
  } finally {
    clearTimeout(t);
    for (const i of timers) clearInterval(i);
  }
  await L.waitExit(srv, 5000, 'die on SIGKILL');
  assert.ok(sent < total, `the burst was still going when the server was killed (${sent} of ${total} sent)`);
  closeAll();
  return { created, killedAt, sent, spanMs: killedAt - started };
}

// Restarts on the file and checks that each of `must` is there: its owner
// re-attends with the stored access token and its invite token + PIN still
// pass the PIN check. Spread over a few sockets.
async function checkSurvivors(srv, must, label) {
  const checkers = [];
  for (let i = 0; i < 4; i++) checkers.push(await conn(srv, L.V4_WS, `checker${i}`));
  const missing = [];
  await Promise.all(checkers.map(async (c, i) => {
    for (let k = i; k < must.length; k += checkers.length) {
      const { reply, pin } = must[k];
      const r = await L.reAttend(c, session(reply));
      if (r.event !== 're-attendance-granted') missing.push({ id: reply.workspace.id, reAttend: r });
      else assert.equal(r.payload.workspace.token, reply.workspace.token);
    }
  }));
  assert.deepEqual(missing, [], `${label}: ${missing.length} of ${must.length} acknowledged workspaces are missing after the restart`);
  // Invite tokens: a sample, joined with the PIN (keeps the workspaces below capacity).
  const joiner = await conn(srv, L.V2_POLL, 'joiner');
  for (const { reply, pin } of must.filter((_, i) => i % 25 === 0)) {
    const g = await L.attendOk(joiner, reply.workspace.token, pin, 'late');
    assert.equal(g.workspace.id, reply.workspace.id);
    assert.ok(g.attendees[reply.attendee.id], 'the owner is still in the list');
  }
}

describe('file store: kill -9 in the middle of a burst of creates', () => {
  // flush_window_ms = 100 (opt-in: may lose the last 100 ms): a reply may
  // precede its write by the window plus a write or two, 300 ms covers that.
  // The default (no key, durable group commit): a reply follows its fsync.
  for (const windowMs of [100, null]) {
    const margin = windowMs === null ? 0 : 300;
    const what = windowMs === null ? 'default (no flush_window_ms: durable group commit)' : `flush_window_ms = ${windowMs}`;
    it(`${what}: the file is valid JSON, the server starts on it, and every workspace acknowledged more than ${margin} ms before the kill survives`, async (t) => {
      const dir = newDir('wrw-ops-');
      const file = path.join(dir, 'store.json');
      const secrets = L.newSecrets();
      const config = windowMs === null ? { json_storage_file: file } : { json_storage_file: file, flush_window_ms: windowMs };
      let srv = await start({ dir, config, secrets });
      const { created, killedAt, sent, spanMs } = await burst(srv, {});
      assert.ok(spanMs > 2 * ((windowMs || 0) + margin), `the burst spans several flush windows before the kill (${spanMs} ms)`);

      const text = fs.readFileSync(file, 'utf8');
      assert.doesNotThrow(() => JSON.parse(text), `${file} is not valid JSON after kill -9`);
      const must = created.filter((c) => c.at <= killedAt - margin);
      assert.ok(must.length >= (windowMs === null ? 300 : 50), `enough workspaces to check (${must.length})`);

      srv = await start({ dir, config, secrets });
      const h = await L.health(srv);
      t.diagnostic(`sent ${sent}, acknowledged ${created.length}, must survive ${must.length}, loaded ${h.workspaces}, burst ${Math.round(spanMs)} ms`);
      assert.ok(h.workspaces >= must.length && h.workspaces <= sent,
        `workspaces after restart: ${h.workspaces}, acknowledged in time: ${must.length}, sent: ${sent}`);
      await checkSurvivors(srv, must, what);
    });
  }
});

// A small seeded PRNG (mulberry32): a failing run prints its seed, and
// WRW_CHAOS_SEED=<seed> replays the same choices.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Per round: at most `creates` creates and `attends` attends (a few hundred
// events with the kicks), `perWorkspace` attends to each workspace (below
// capacity, so no `full`), a third of the granted attendees kicked.
const CHAOS = {
  rounds: 5, creators: 3, guests: 3, creates: 60, attends: 150, perWorkspace: 3,
  createChance: 0.3, kickChance: 1 / 3, inflight: 2, tickMs: 5,
};
const CHAOS_VARIANTS = [L.V4_WS, L.V2_WS, L.V4_POLL];

// One round of mixed load: creators create (half with a PIN), guests attend
// workspaces acknowledged in this round (with their PIN), owners kick a third
// of the attendees granted. `killDelayMs` after `killAfter` acknowledgements
// (created, attendance-granted, the owner's `kicked`), with the load still
// going, the server gets SIGKILL; every reply that still arrives is recorded
// too (a reply is sent only after its fsync). Returns what was sent and
// acknowledged.
async function chaosRound(srv, { round, random, killAfter, killDelayMs }) {
  const creators = [];
  const guests = [];
  for (let i = 0; i < CHAOS.creators; i++) creators.push(await conn(srv, CHAOS_VARIANTS[i % 3], `r${round}-creator${i}`));
  for (let i = 0; i < CHAOS.guests; i++) guests.push(await conn(srv, CHAOS_VARIANTS[(i + 1) % 3], `r${round}-guest${i}`));
  const rec = {
    round,
    sentCreates: 0, sentAttends: 0, sentKicks: 0, acks: 0,
    pendingCreates: new Map(), // nonce -> {name, pin}: sent, not acknowledged
    workspaces: new Map(), // id -> {reply, pin, name, owner, pendingAttends: Map nonce -> name, granted: Map id -> reply, kickSent: Set, kicked: Set}
    attends: new Map(), // nonce -> {wsId, name}
    unexpected: [],
    killedAt: null,
  };
  const outstanding = new Map([...creators, ...guests].map((s) => [s, 0]));
  let nonce = 0;
  let killTimer = null;
  const started = performance.now();
  let resolveKill;
  const killed = new Promise((r) => { resolveKill = r; });
  const armKill = () => {
    if (killTimer !== null) return;
    killTimer = setTimeout(() => {
      rec.killedAt = performance.now() - started;
      srv.expectingExit = true;
      srv.child.kill('SIGKILL');
      resolveKill();
    }, killDelayMs);
  };
  const ack = () => {
    rec.acks++;
    if (rec.acks >= killAfter) armKill();
  };
  const done = (s) => outstanding.set(s, outstanding.get(s) - 1);
  for (const s of [...creators, ...guests]) {
    for (const ev of ['alert', 'full', 'destroyed']) s.on(ev, (p) => rec.unexpected.push(`${s.__rec.label} got ${ev} ${JSON.stringify(p)}`));
  }
  for (const c of creators) {
    c.on('created', (p) => {
      done(c);
      const sent = rec.pendingCreates.get(p.nonce);
      if (!sent) { rec.unexpected.push(`created for an unknown nonce ${JSON.stringify(p.nonce)}`); return; }
      rec.pendingCreates.delete(p.nonce);
      rec.workspaces.set(p.workspace.id, {
        reply: p, pin: sent.pin, name: sent.name, owner: c,
        pendingAttends: new Map(), granted: new Map(), kickSent: new Set(), kicked: new Set(),
      });
      ack();
    });
    // The owner's own `kicked` (the room, the kicked attendee included, gets one too).
    c.on('kicked', (p) => {
      const w = [...rec.workspaces.values()].find((x) => x.owner === c && x.kickSent.has(p.id));
      if (!w) { rec.unexpected.push(`${c.__rec.label} got kicked ${JSON.stringify(p)} for no kick it sent`); return; }
      if (p.name !== w.granted.get(p.id).attendee.name) rec.unexpected.push(`kicked ${JSON.stringify(p)}: wrong name`);
      w.kicked.add(p.id);
      ack();
    });
  }
  for (const g of guests) {
    g.on('attendance-granted', (p) => {
      done(g);
      const a = rec.attends.get(p.nonce);
      const w = a && rec.workspaces.get(a.wsId);
      if (!w || p.workspace.id !== a.wsId) { rec.unexpected.push(`attendance-granted ${JSON.stringify(p).slice(0, 300)} for no attend sent`); return; }
      w.pendingAttends.delete(p.nonce);
      w.granted.set(p.attendee.id, p);
      ack();
      if (rec.killedAt === null && random() < CHAOS.kickChance) {
        w.kickSent.add(p.attendee.id);
        rec.sentKicks++;
        w.owner.emit('kick', {
          workspace: { id: w.reply.workspace.id }, attendee: { id: w.reply.attendee.id },
          kickedAttendee: { id: p.attendee.id, name: p.attendee.name }, accessToken: w.reply.accessToken,
        });
      }
    });
  }
  const tick = () => {
    if (rec.killedAt !== null) return; // the load goes on until the kill itself
    for (const c of creators) {
      if (rec.sentCreates >= CHAOS.creates || outstanding.get(c) >= CHAOS.inflight || random() >= CHAOS.createChance) continue;
      const n = ++nonce;
      const name = `r${round}w${n}`;
      const pin = random() < 0.5 ? String(1000 + n) : '';
      rec.pendingCreates.set(n, { name, pin });
      rec.sentCreates++;
      outstanding.set(c, outstanding.get(c) + 1);
      c.emit('create', { workspace: { name, pin, avatar: `${name}.png` }, attendee: { name: `r${round}o${n}`, avatar: 'o.png' }, nonce: n });
    }
    for (const g of guests) {
      if (rec.sentAttends >= CHAOS.attends || outstanding.get(g) >= CHAOS.inflight) continue;
      const open = [...rec.workspaces.entries()].filter(([, w]) => w.pendingAttends.size + w.granted.size < CHAOS.perWorkspace);
      if (open.length === 0) continue;
      const [wsId, w] = open[Math.floor(random() * open.length)];
      const n = ++nonce;
      const name = `r${round}g${n}`;
      w.pendingAttends.set(n, name);
      rec.attends.set(n, { wsId, name });
      rec.sentAttends++;
      outstanding.set(g, outstanding.get(g) + 1);
      g.emit('attend', { workspace: { token: w.reply.workspace.token, pin: w.pin }, attendee: { name, avatar: `${name}.png` }, nonce: n });
    }
    // The load ran out before `killAfter` acknowledgements: kill anyway.
    const idle = [...outstanding.values()].every((v) => v === 0);
    if (idle && rec.sentCreates >= CHAOS.creates && rec.sentAttends > 0) armKill();
  };
  const interval = setInterval(tick, CHAOS.tickMs);
  let t;
  try {
    await Promise.race([killed, new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`round ${round}: no kill within 30 s (${rec.acks} acknowledgements, ${rec.sentCreates} creates sent)`)), 30000);
    })]);
  } finally {
    clearTimeout(t);
    clearInterval(interval);
  }
  await L.waitExit(srv, 5000, 'die on SIGKILL');
  // Every reply the dead server still delivered is read before its sockets close.
  const all = [...creators, ...guests];
  let t2;
  await Promise.race([Promise.all(all.map((s) => s.__disconnected)), new Promise((_, reject) => {
    t2 = setTimeout(() => reject(new Error(`round ${round}: sockets still connected 10 s after the kill`)), 10000);
  })]).finally(() => clearTimeout(t2));
  closeAll();
  return rec;
}

// After the restart, round `rec`'s acknowledged changes are all there, and
// nothing unacknowledged is half-there.
async function checkRound(srv, rec, label) {
  const checkers = [];
  for (let i = 0; i < 4; i++) checkers.push(await conn(srv, CHAOS_VARIANTS[i % 3], `${label}-checker${i}`));
  const wss = [...rec.workspaces.values()];
  const missing = [];
  // Each acknowledged workspace: its owner re-attends, the attendee list is
  // what the acknowledgements say (plus, at most, complete unacknowledged attendees).
  await Promise.all(checkers.map(async (c, i) => {
    for (let k = i; k < wss.length; k += checkers.length) {
      const w = wss[k];
      const r = await L.reAttend(c, session(w.reply));
      if (r.event !== 're-attendance-granted') { missing.push({ id: w.reply.workspace.id, reAttend: r }); continue; }
      const what = `${label}: workspace ${w.name} (${w.reply.workspace.id})`;
      assert.equal(r.payload.workspace.token, w.reply.workspace.token, `${what}: the same workspace token`);
      assert.equal(r.payload.workspace.name, w.name, `${what}: name`);
      const list = r.payload.attendees;
      assert.deepEqual(list[w.reply.attendee.id], w.reply.attendee, `${what}: the owner is listed`);
      for (const [id, g] of w.granted) {
        if (w.kicked.has(id)) assert.equal(list[id], undefined, `${what}: the acknowledged kick of ${id} is lost`);
        else if (!w.kickSent.has(id)) assert.deepEqual(list[id], g.attendee, `${what}: the acknowledged attendee ${id} is missing`);
      }
      const pendingNames = new Set(w.pendingAttends.values());
      for (const [id, a] of Object.entries(list)) {
        if (id === w.reply.attendee.id || w.granted.has(id)) continue;
        // Not acknowledged: it may be there, but only complete, and once.
        assert.match(id, ID_RE, `${what}: listed id ${id}`);
        assert.ok(pendingNames.has(a.name), `${what}: listed attendee ${JSON.stringify(a)} was never sent, or is listed twice`);
        assert.deepEqual(a, { id, name: a.name, avatar: `${a.name}.png` }, `${what}: unacknowledged attendee half-there`);
        pendingNames.delete(a.name);
      }
      w.listed = list;
    }
  }));
  assert.deepEqual(missing, [], `${label}: ${missing.length} of ${wss.length} acknowledged workspaces are missing after the restart`);
  // Each granted attendee re-attends itself, unless its kick was acknowledged;
  // one whose kick was sent but not acknowledged agrees with the list.
  const attendees = wss.flatMap((w) => [...w.granted.values()].map((g) => ({ w, g })));
  await Promise.all(checkers.map(async (c, i) => {
    for (let k = i; k < attendees.length; k += checkers.length) {
      const { w, g } = attendees[k];
      const id = g.attendee.id;
      const what = `${label}: attendee ${g.attendee.name} (${id}) of ${w.name}`;
      const r = await L.reAttend(c, session(g));
      const present = w.kicked.has(id) ? false : w.kickSent.has(id) ? Boolean(w.listed[id]) : true;
      if (present) {
        assert.equal(r.event, 're-attendance-granted', `${what}: ${JSON.stringify(r)}`);
        assert.deepEqual(r.payload.attendee, g.attendee, what);
        assert.equal(r.payload.workspace.id, w.reply.workspace.id, what);
      } else {
        assert.deepEqual(r, { event: 'alert', payload: TEXT.NOACCESS }, `${what} was kicked${w.kicked.has(id) ? ' (acknowledged)' : ' (not listed)'}`);
      }
    }
  }));
  for (const c of checkers) L.close(c);
}

describe('file store: kill -9 at random moments of a mixed load', () => {
  it(`kill -9 right after a burst of acknowledged creates/attends/kicks, repeated at random delays from 0 to 200 ms (${CHAOS.rounds} rounds)`, async (t) => {
    const seed = Number(process.env.WRW_CHAOS_SEED) || crypto.randomInt(1, 2 ** 31);
    t.diagnostic(`seed ${seed} (WRW_CHAOS_SEED=${seed} replays it)`);
    const random = prng(seed);
    const dir = newDir('wrw-ops-');
    const file = path.join(dir, 'store.json');
    const secrets = L.newSecrets();
    // A long presence grace: nobody lapses while the rounds run.
    const config = { json_storage_file: file, max_capacity_of_workspace: 8, presence_grace_secs: 3600 };
    let acknowledged = 0;
    let sent = 0;
    let previous = null;
    for (let round = 0; round <= CHAOS.rounds; round++) {
      const srv = await start({ dir, config, secrets });
      const label = `seed ${seed}, round ${round}`;
      const h = await L.health(srv);
      assert.ok(h.workspaces >= acknowledged && h.workspaces <= sent,
        `${label}: workspaces after the restart: ${h.workspaces}, acknowledged: ${acknowledged}, sent: ${sent}`);
      if (previous) await checkRound(srv, previous, `${label} (checking round ${previous.round})`);
      if (round === CHAOS.rounds) break;
      const killAfter = 10 + Math.floor(random() * 190);
      const killDelayMs = Math.floor(random() * 201);
      const rec = await chaosRound(srv, { round, random, killAfter, killDelayMs });
      assert.deepEqual(rec.unexpected, [], `${label}: unexpected events during the load`);
      let granted = 0;
      let kicked = 0;
      for (const w of rec.workspaces.values()) { granted += w.granted.size; kicked += w.kicked.size; }
      t.diagnostic(`round ${round}: kill ${killDelayMs} ms after ${killAfter} acks (at ${Math.round(rec.killedAt)} ms); ` +
        `sent ${rec.sentCreates} creates, ${rec.sentAttends} attends, ${rec.sentKicks} kicks; acknowledged ${rec.workspaces.size} created, ${granted} granted, ${kicked} kicked`);
      assert.doesNotThrow(() => JSON.parse(fs.readFileSync(file, 'utf8')), `${label}: ${file} is valid JSON after kill -9`);
      acknowledged += rec.workspaces.size;
      sent += rec.sentCreates;
      previous = rec;
    }
  });
});

describe('file store: the journal after a crash', () => {
  async function someChanges(srv) {
    const owner = await conn(srv, L.V4_WS, 'owner');
    const w1 = await L.create(owner, { name: 'first', pin: '8080', attendee: 'olive' });
    const guest = await conn(srv, L.V2_WS, 'guest');
    const g1 = await L.attendOk(guest, w1.workspace.token, '8080', 'gus');
    const owner2 = await conn(srv, L.V2_POLL, 'owner2');
    const w2 = await L.create(owner2, { name: 'second', attendee: 'otto' });
    return { w1, g1, w2 };
  }

  it('a torn last line (a write cut short) is dropped: the server starts with every earlier change, and later changes are kept too', async () => {
    const dir = newDir('wrw-ops-');
    const file = path.join(dir, 'store.json');
    const journal = `${file}.journal`;
    const secrets = L.newSecrets();
    const config = { json_storage_file: file };
    let srv = await start({ dir, config, secrets });
    const { w1, g1, w2 } = await someChanges(srv);
    await L.kill9(srv);
    closeAll();
    assert.ok(fs.existsSync(journal), `${journal} exists after kill -9`);
    const text = fs.readFileSync(journal, 'utf8');
    fs.appendFileSync(journal, `${text.length && !text.endsWith('\n') ? '\n' : ''}{"seq":99999999,"put":{"id":"_ab`);

    srv = await start({ dir, config, secrets });
    assert.equal((await L.health(srv)).workspaces, 2, 'both workspaces are loaded');
    const c = await conn(srv, L.V4_POLL, 'back');
    const r1 = await L.reAttend(c, session(w1));
    assert.equal(r1.event, 're-attendance-granted', JSON.stringify(r1));
    assert.deepEqual(r1.payload.attendees, { [w1.attendee.id]: w1.attendee, [g1.attendee.id]: g1.attendee });
    const r2 = await L.reAttend(c, session(w2));
    assert.equal(r2.event, 're-attendance-granted', JSON.stringify(r2));
    // Written after the torn line was dropped: still readable at the next start.
    const owner3 = await conn(srv, L.V2_WS, 'owner3');
    const w3 = await L.create(owner3, { name: 'third', pin: '99', attendee: 'ozzy' });
    await L.kill9(srv);
    closeAll();

    srv = await start({ dir, config, secrets });
    assert.equal((await L.health(srv)).workspaces, 3, 'all three workspaces are loaded');
    const c2 = await conn(srv, L.V4_WS, 'back-again');
    for (const s of [session(w1), session(g1), session(w2), session(w3)]) {
      const r = await L.reAttend(c2, s);
      assert.equal(r.event, 're-attendance-granted', `${s.attendee.name}: ${JSON.stringify(r)}`);
    }
    await L.attendOk(c2, w3.workspace.token, '99', 'late');
  });

  it('a garbage line in the middle (a complete line after it): the start stops, naming the journal, which is left unchanged', async () => {
    const dir = newDir('wrw-ops-');
    const file = path.join(dir, 'store.json');
    const journal = `${file}.journal`;
    const secrets = L.newSecrets();
    const config = { json_storage_file: file };
    const srv = await start({ dir, config, secrets });
    await someChanges(srv);
    await L.kill9(srv);
    closeAll();
    const lines = fs.readFileSync(journal, 'utf8').split('\n').filter((l) => l !== '');
    assert.ok(lines.length >= 2, `${journal} has at least two lines after three acknowledged changes: ${JSON.stringify(lines).slice(0, 500)}`);
    fs.writeFileSync(journal, `${lines[0]}\nthis is not JSON {"seq":\n${lines.slice(1).join('\n')}\n`);
    await L.expectRefusedStart({ dir, config, secrets, mentions: journal, unchanged: [journal, file] });
  });
});

describe('file store: a corrupt storage file', () => {
  const cases = [
    ['truncated JSON', Buffer.from('{"format":"webrtc-workspaces-server/1","workspaces":[{"id":"_abcdefghij","na')],
    ['not JSON at all', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0a, 0x7b])],
    ['JSON of another shape', Buffer.from('{"workspaces": 3}\n')],
  ];
  for (const [name, bytes] of cases) {
    it(`${name}: the start stops with an error naming the file, and the file is left unchanged`, async () => {
      const dir = newDir('wrw-ops-');
      const file = path.join(dir, 'workspaces-store.json');
      fs.writeFileSync(file, bytes);
      await L.expectRefusedStart({ dir, config: { json_storage_file: file }, mentions: file, unchanged: [file] });
    });
  }
});
