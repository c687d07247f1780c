'use strict';
// Issue 21: "a join announced right after Redis comes back can be lost". The
// sequence, three nodes A, B, C on one Redis (AOF):
//   1. create on A; attendees attend on B and C; a kick from A of the one on B;
//   2. kill -9 of node C (A's owner hears the `leave` after the grace);
//   3. Redis paused (SIGSTOP) for 1.5 s, then resumed, until /health on A is 200;
//   4. Redis killed (kill -9) and started again on its AOF, until /health on A and B is 200;
//   5. a new attendee attends on B: it is granted, and the owner on A hears `attend`.
// Steps 3 to 5 are repeated, three rounds on the same cluster. On this
// machine the announcement has been heard in every run so far (the issue saw
// it lost in 3 runs of 3 elsewhere): this test keeps the sequence covered.

const { it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');
const C = require('./lib.js');

const T = C.clusters(afterEach);
const RECOVER_MS = 10000;

const up = (h) => h.status === 200 && h.body && h.body.status === 'ok';

async function untilUp(nodes) {
  await Promise.all(nodes.map((n) => L.poll(async () => up(await C.healthOf(n)),
    { timeout: RECOVER_MS, every: 50, what: `${n.label} /health 200` })));
}

it('after a pause and a kill -9 of Redis, a join on another node is announced to the owner (three rounds)', async () => {
  const cluster = await T.start({ nodes: 3, config: { presence_grace_secs: 2, max_capacity_of_workspace: 10 } });
  const { redis } = cluster;
  const [A, B, Cn] = cluster.nodes;
  const owner = await C.createOn(T, A, L.V4_WS, { name: 'outage', label: 'owner@A' });
  const bob = await C.attendOn(T, B, L.V2_WS, owner.W, { name: 'bob', others: [owner], label: 'bob@B' });
  const carol = await C.attendOn(T, Cn, L.V2_WS, owner.W, { name: 'carol', others: [owner, bob], label: 'carol@C' });
  owner.sock.emit('kick', {
    workspace: { id: owner.W.id }, attendee: { id: owner.me.id }, kickedAttendee: { id: bob.me.id }, accessToken: owner.token,
  });
  assert.equal((await L.waitFor(owner.sock, 'kicked')).id, bob.me.id, 'the kick is announced');

  await Cn.kill9();
  assert.equal((await L.waitFor(owner.sock, 'leave', { timeout: 10000 })).id, carol.me.id, 'the owner hears carol leave');

  for (let round = 1; round <= 3; round++) {
    redis.pause();
    await L.delay(1500);
    redis.resume();
    await untilUp([A]);

    await redis.kill9();
    await redis.start();
    await untilUp([A, B]);

    const dave = await T.conn(B, L.V2_WS, `dave${round}@B`);
    const granted = await L.attendOk(dave, owner.W.token, '', `dave${round}`);
    const heard = await L.waitFor(owner.sock, 'attend', { timeout: 5000 }).catch(async (e) => {
      const channels = await redis.cli('PUBSUB', 'CHANNELS', '*');
      const numsub = await redis.cli('PUBSUB', 'NUMSUB', ...channels);
      const shards = await redis.cli('PUBSUB', 'SHARDCHANNELS', '*');
      const shardnumsub = shards.length ? await redis.cli('PUBSUB', 'SHARDNUMSUB', ...shards) : [];
      const clients = await redis.cli('CLIENT', 'LIST');
      e.message += `\nround ${round}\nRedis channels and subscribers: ${JSON.stringify(numsub)}\nroom (shard) channels: ${JSON.stringify(shardnumsub)}\nclients:\n${clients}\nA:${A.stderr().slice(-3000)}\nB:${B.stderr().slice(-3000)}`;
      throw e;
    });
    assert.deepEqual(heard, granted.attendee, `round ${round}: the owner on A hears dave attend on B`);
  }
});
