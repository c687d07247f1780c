'use strict';
// Not part of the suite (no .test.js): a bounded stress repro for a reply
// lost on a freshly connected socket under CPU load. Usage:
//   cd tests/clients && WRW_OPS_RUST_LOG=wrw=debug node ops/first-reply-stress.js [seconds=120]
// Two busy-loop processes load the 2 cores; each round starts a server,
// connects 4 socket.io-client 4 WebSocket clients one after another, and each
// sends `create` right after `connect` and waits 5 s for `created`. When it
// does not come, a second event (`iceservers`) on the same socket is tried and
// the server's stderr is kept in /tmp/first-reply-stress.N.log.
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const L = require('./lib.js');

(async () => {
  const seconds = Number(process.argv[2] || 120);
  const hogs = [0, 1].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  const stopHogs = () => hogs.forEach((h) => { try { h.kill('SIGKILL'); } catch (_) { /* gone */ } });
  process.on('exit', stopHogs);
  let lost = 0;
  let total = 0;
  const t0 = Date.now();
  try {
    while (Date.now() - t0 < seconds * 1000) {
      const srv = await L.startServer({ config: { presence_grace_secs: 1.5 }, rustLog: process.env.WRW_OPS_RUST_LOG || 'warn' });
      try {
        for (let k = 0; k < 4; k++) {
          const s = await L.connect(srv.url, L.V4_WS, `c${k}`, 20000);
          total++;
          try {
            await L.create(s, {});
          } catch (e) {
            lost++;
            let second = 'nothing';
            try { second = (await L.request(s, 'iceservers', {}, { replies: ['iceservers'] })).event; } catch (_) { /* none */ }
            const log = `/tmp/first-reply-stress.${lost}.log`;
            fs.writeFileSync(log, srv.stderr());
            console.log(`sid ${s.id}: no reply to the first event within 5 s; a second event got: ${second}; server log ${log}`);
          }
          L.close(s);
        }
      } finally {
        await L.destroy(srv);
      }
    }
  } finally {
    stopHogs();
  }
  console.log(`lost ${lost} of ${total} first replies in ${Math.round((Date.now() - t0) / 1000)} s`);
  process.exitCode = lost ? 1 : 0;
})();
