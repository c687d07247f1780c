'use strict';
// A bounded stress check for a reply lost on a freshly connected socket under
// CPU load (what a socketioxide upgrade breaking the ordered event loop or the
// connect timing looks like). Two busy-loop processes load the cores; each
// round starts a server, connects 4 socket.io-client 4 WebSocket clients one
// after another, and each sends `create` right after `connect` and waits 5 s
// for `created`. When it does not come, a second event (`iceservers`) on the
// same socket is tried and the server's stderr is kept in
// $TMPDIR/first-reply-stress.<pid>.N.log.
//   WRW_STRESS_SECONDS=120 (default 20) runs it longer;
//   WRW_RUST_LOG=wrw=debug keeps the server's debug log for a lost reply.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { it } = require('node:test');
const assert = require('node:assert/strict');
const L = require('../harness.js');

const SECONDS = Number(process.env.WRW_STRESS_SECONDS || 20);

it(`every first event on a fresh connection is answered, with both cores busy (${SECONDS} s)`, { timeout: (SECONDS + 60) * 1000 }, async (t) => {
  const hogs = [0, 1].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  t.after(() => hogs.forEach((p) => { try { p.kill('SIGKILL'); } catch (_) { /* gone */ } }));
  const lost = [];
  let total = 0;
  let rounds = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < SECONDS * 1000) {
    const srv = await L.startServer({ config: { presence_grace_secs: 1.5 } });
    rounds++;
    try {
      for (let k = 0; k < 4; k++) {
        const s = await L.connect(srv.url, L.V4_WS, { label: `c${k}`, timeout: 20000 });
        total++;
        try {
          await L.create(s, {});
        } catch (e) {
          let second = 'nothing';
          try { second = (await L.ask(s, 'iceservers', {}, { replies: ['iceservers'] })).event; } catch (_) { /* none */ }
          const log = path.join(os.tmpdir(), `first-reply-stress.${process.pid}.${lost.length + 1}.log`);
          fs.writeFileSync(log, srv.stderr());
          lost.push(`sid ${s.id}: no reply to the first event within 5 s; a second event got: ${second}; server log ${log}`);
        }
        L.close(s);
      }
    } finally {
      await L.destroy(srv);
    }
  }
  t.diagnostic(`${total} first events on fresh connections in ${rounds} rounds, ${Math.round((Date.now() - t0) / 1000)} s`);
  assert.ok(total >= 4, 'at least one round ran');
  assert.deepEqual(lost, [], `lost ${lost.length} of ${total} first replies`);
});
