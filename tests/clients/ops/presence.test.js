'use strict';
// Issue #4 / docs/PROTOCOL.md § Sessions, disconnects and reconnects: ghosts (presence grace), reloads, lapsed
// attendees coming back, and workspace expiry.

const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { performance } = require('node:perf_hooks');
const L = require('../harness.js');

const GRACE_MS = 1500;
// How late after the grace the `leave` may come (disconnect detection, a busy 2-core box).
const LEAVE_BOUND_MS = 3000;
const NO_ACCESS = 'Invalid access token. Access is not allowed.';

const T = L.tracked(afterEach);
const start = (config) => T.start({ config });
const conn = T.conn;

function session(reply) {
  return { workspace: reply.workspace, attendee: reply.attendee, accessToken: reply.accessToken };
}

function entriesSince(socket, seq, event) {
  return socket.__rec.entries.filter((e) => e.seq >= seq && e.event === event).map((e) => e.payload);
}

// The passage of time is what is under test: waits until `ms` after `t0`
// (a performance.now() value), then does an `iceservers` round trip on each
// socket so that everything the server sent before is recorded.
async function until(t0, ms, ...socks) {
  const left = t0 + ms - performance.now();
  if (left > 0) await L.delay(left);
  await Promise.all(socks.map((s) => L.ask(s, 'iceservers', {}, { replies: ['iceservers'] })));
}

const presence = { presence_grace_secs: GRACE_MS / 1000, max_capacity_of_workspace: 2 };

describe('presence grace: ghosts', () => {
  for (const guestVariant of [L.V2_POLL, L.V4_WS]) {
    it(`a ${guestVariant.client}/${guestVariant.transport} guest that vanishes is announced with leave after the grace and frees its seat`, async () => {
      const srv = await start(presence);
      const owner = await conn(srv, L.V4_WS, 'owner');
      const w = await L.create(owner, { name: 'ghosts', pin: '77' });
      const guest = await conn(srv, guestVariant, 'guest');
      const g = await L.attendOk(guest, w.workspace.token, '77', 'ghost');
      assert.deepEqual(await L.waitFor(owner, 'attend'), g.attendee);

      const t0 = performance.now();
      L.vanish(guest);
      // During the grace the ghost still holds its seat (a reload needs it).
      const early = await conn(srv, L.V2_WS, 'early');
      assert.equal((await L.attend(early, w.workspace.token, '77', 'early')).event, 'full');

      const left = await L.waitFor(owner, 'leave', { timeout: GRACE_MS + LEAVE_BOUND_MS });
      const elapsed = performance.now() - t0;
      assert.deepEqual(left, { id: g.attendee.id, name: 'ghost', avatar: 'ghost.png' });
      assert.ok(elapsed >= GRACE_MS - 100, `leave came after ${Math.round(elapsed)} ms, before the grace of ${GRACE_MS} ms`);

      // The seat is free again: a new attend succeeds instead of `full`.
      const late = await conn(srv, L.V4_POLL, 'late');
      const n = await L.attendOk(late, w.workspace.token, '77', 'late');
      assert.deepEqual(Object.keys(n.attendees).sort(), [w.attendee.id, n.attendee.id].sort());
      const list = await L.ask(owner, 'attendees', { workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, accessToken: w.accessToken }, { replies: ['attendees', 'alert'] });
      assert.deepEqual(list.payload, { attendees: n.attendees });

      // The lapsed ghost comes back while the workspace is full: `full`.
      const back = await conn(srv, L.V2_POLL, 'ghost-back');
      assert.deepEqual(await L.reAttend(back, session(g)), { event: 'full', payload: {} });
    });
  }

  it('a lapsed attendee comes back with re-attend: re-attendance-granted with the same id, the room gets attend', async () => {
    const srv = await start(presence);
    const owner = await conn(srv, L.V2_WS, 'owner');
    const w = await L.create(owner, { name: 'laptop' });
    const guest = await conn(srv, L.V4_WS, 'guest');
    const g = await L.attendOk(guest, w.workspace.token, '', 'sleeper');
    await L.waitFor(owner, 'attend');
    L.vanish(guest);
    assert.deepEqual(await L.waitFor(owner, 'leave', { timeout: GRACE_MS + LEAVE_BOUND_MS }), g.attendee);

    const woke = await conn(srv, L.V2_POLL, 'woke');
    const r = await L.reAttend(woke, session(g));
    assert.equal(r.event, 're-attendance-granted', JSON.stringify(r));
    assert.deepEqual(r.payload.attendee, g.attendee);
    assert.deepEqual(r.payload.attendees, { [w.attendee.id]: w.attendee, [g.attendee.id]: g.attendee });
    assert.deepEqual(await L.waitFor(owner, 'attend'), g.attendee);
    // And it is a member again: messages reach it.
    owner.emit('mic-toggle', { workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, state: false, accessToken: w.accessToken });
    assert.deepEqual(await L.waitFor(woke, 'mic-toggle'), { attendee: { id: w.attendee.id }, state: false });
  });

  it('a reload (disconnect, then re-attend from a new socket within the grace) never produces leave', async () => {
    const srv = await start(presence);
    const owner = await conn(srv, L.V4_WS, 'owner');
    const w = await L.create(owner, { name: 'reload' });
    const guest = await conn(srv, L.V2_POLL, 'guest');
    const g = await L.attendOk(guest, w.workspace.token, '', 'reloader');
    await L.waitFor(owner, 'attend');
    const mark = owner.__rec.seq;

    const t0 = performance.now();
    L.vanish(guest);
    const reloaded = await conn(srv, L.V2_POLL, 'reloaded');
    const r = await L.reAttend(reloaded, session(g));
    assert.equal(r.event, 're-attendance-granted', JSON.stringify(r));
    assert.ok(performance.now() - t0 < GRACE_MS, 'the reload happened within the grace');
    assert.deepEqual(r.payload.attendee, g.attendee);
    assert.deepEqual(await L.waitFor(owner, 'attend'), g.attendee);

    // Negative check about time: nothing until grace + 1 s.
    await until(t0, GRACE_MS + 1000, owner, reloaded);
    assert.deepEqual(entriesSince(owner, mark, 'leave'), [], 'no leave for a reloaded attendee');
    assert.deepEqual(entriesSince(reloaded, 0, 'leave'), []);
    const list = await L.ask(owner, 'attendees', { workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, accessToken: w.accessToken }, { replies: ['attendees', 'alert'] });
    assert.deepEqual(list.payload, { attendees: { [w.attendee.id]: w.attendee, [g.attendee.id]: g.attendee } });
  });

  it('reload, then the reloaded socket vanishes too: the grace counts from the last socket gone', async () => {
    const srv = await start(presence);
    const owner = await conn(srv, L.V4_WS, 'owner');
    const w = await L.create(owner, { name: 'twice' });
    const guest = await conn(srv, L.V2_WS, 'guest');
    const g = await L.attendOk(guest, w.workspace.token, '', 'twice');
    await L.waitFor(owner, 'attend');

    const t0 = performance.now();
    L.vanish(guest);
    // Reload 800 ms into the grace of the first socket...
    await L.delay(800);
    const reloaded = await conn(srv, L.V2_WS, 'reloaded');
    assert.equal((await L.reAttend(reloaded, session(g))).event, 're-attendance-granted');
    assert.deepEqual(await L.waitFor(owner, 'attend'), g.attendee);
    // ...and the reloaded tab is closed as well.
    const t1 = performance.now();
    L.vanish(reloaded);
    const left = await L.waitFor(owner, 'leave', { timeout: GRACE_MS + LEAVE_BOUND_MS });
    const sinceLast = performance.now() - t1;
    assert.deepEqual(left, g.attendee);
    assert.ok(sinceLast >= GRACE_MS - 100,
      `leave came ${Math.round(sinceLast)} ms after the last socket vanished (${Math.round(performance.now() - t0)} ms after the first): ` +
      `the attendee had no socket for less than the ${GRACE_MS} ms grace`);
  });

  it('the owner is never removed by the grace', async () => {
    const srv = await start(presence);
    const owner = await conn(srv, L.V2_POLL, 'owner');
    const w = await L.create(owner, { name: 'owner-away', attendee: 'boss' });
    const guest = await conn(srv, L.V4_WS, 'guest');
    const g = await L.attendOk(guest, w.workspace.token, '', 'stays');
    const mark = guest.__rec.seq;

    const t0 = performance.now();
    L.vanish(owner);
    await until(t0, GRACE_MS + 1000, guest);
    assert.deepEqual(entriesSince(guest, mark, 'leave'), [], 'no leave for the owner');
    const list = await L.ask(guest, 'attendees', { workspace: { id: w.workspace.id }, attendee: { id: g.attendee.id }, accessToken: g.accessToken }, { replies: ['attendees', 'alert'] });
    assert.deepEqual(list.payload, { attendees: { [w.attendee.id]: w.attendee, [g.attendee.id]: g.attendee } });

    const back = await conn(srv, L.V2_WS, 'owner-back');
    const r = await L.reAttend(back, session(w));
    assert.equal(r.event, 're-attendance-granted', JSON.stringify(r));
    assert.deepEqual(r.payload.attendee, w.attendee);
    assert.equal(r.payload.workspace.owner, w.attendee.id);
  });

  for (const how of ['kicked', 'departed']) {
    it(`a ${how} attendee cannot come back with re-attend, even after the grace`, async () => {
      const srv = await start(presence);
      const owner = await conn(srv, L.V4_WS, 'owner');
      const w = await L.create(owner, { name: how });
      const guest = await conn(srv, L.V2_WS, 'guest');
      const g = await L.attendOk(guest, w.workspace.token, '', 'gone');
      await L.waitFor(owner, 'attend');
      if (how === 'kicked') {
        owner.emit('kick', { workspace: { id: w.workspace.id }, attendee: { id: w.attendee.id }, kickedAttendee: { id: g.attendee.id, name: 'gone' }, accessToken: w.accessToken });
        assert.deepEqual(await L.waitFor(guest, 'kicked'), { id: g.attendee.id, name: 'gone' });
      } else {
        guest.emit('leave', { workspace: { id: w.workspace.id }, attendee: g.attendee, accessToken: g.accessToken });
        assert.deepEqual(await L.waitFor(owner, 'leave'), g.attendee);
      }
      const t0 = performance.now();
      L.vanish(guest);
      // Right away...
      const again = await conn(srv, L.V4_POLL, 'again');
      assert.deepEqual(await L.reAttend(again, session(g)), { event: 'alert', payload: NO_ACCESS });
      // ...and after its grace would have run out.
      await until(t0, GRACE_MS + 1000, again);
      assert.deepEqual(await L.reAttend(again, session(g)), { event: 'alert', payload: NO_ACCESS });
      // Only a new attend with the workspace token lets it in again (as a new attendee).
      const n = await L.attendOk(again, w.workspace.token, '', 'gone');
      assert.notEqual(n.attendee.id, g.attendee.id);
    });
  }
});

describe('workspace expiry', () => {
  it('a workspace whose members all disconnected is deleted; one with a connected member is not', async () => {
    const srv = await start({ workspace_expiry_secs: 1, presence_grace_secs: 600 });
    const o1 = await conn(srv, L.V4_WS, 'o1');
    const w1 = await L.create(o1, { name: 'abandoned' });
    const g1 = await conn(srv, L.V2_POLL, 'g1');
    await L.attendOk(g1, w1.workspace.token, '', 'g1');
    const o2 = await conn(srv, L.V2_WS, 'o2');
    const w2 = await L.create(o2, { name: 'owner-here' });
    const o3 = await conn(srv, L.V4_POLL, 'o3');
    const w3 = await L.create(o3, { name: 'guest-here' });
    const g3 = await conn(srv, L.V2_WS, 'g3');
    await L.attendOk(g3, w3.workspace.token, '', 'g3');
    assert.equal((await L.health(srv)).workspaces, 3);

    const t0 = performance.now();
    L.close(o1);
    L.vanish(g1);
    L.close(o3);

    // Poll /health (joining or any token-checked event would bind the poller
    // to the room and keep the workspace alive).
    await L.poll(async () => (await L.health(srv)).workspaces === 2,
      { timeout: 10000, every: 100, what: 'one workspace to expire' });
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 900, `expired after ${Math.round(elapsed)} ms, before the 1 s expiry`);
    const prober = await conn(srv, L.V4_WS, 'prober');
    assert.deepEqual(await L.attend(prober, w1.workspace.token, ''), { event: 'destroyed', payload: {} });
    const owner1 = await conn(srv, L.V2_POLL, 'o1-back');
    assert.deepEqual(await L.reAttend(owner1, session(w1)), { event: 'destroyed', payload: {} });

    // The others outlive the expiry by a clear margin.
    await until(t0, 3000, prober);
    assert.equal((await L.health(srv)).workspaces, 2);
    const j2 = await L.attendOk(prober, w2.workspace.token, '', 'p2');
    assert.equal(j2.workspace.id, w2.workspace.id);
    const j3 = await L.attendOk(prober, w3.workspace.token, '', 'p3');
    assert.equal(j3.workspace.id, w3.workspace.id);
  });
});
