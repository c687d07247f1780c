'use strict';
// A real redis-server (the Debian package's /usr/bin/redis-server) for the
// cluster tests: started on a free port with its own temp data dir, spoken to
// over RESP (a small client here, one connection per command, every command
// bounded), paused and resumed with SIGSTOP/SIGCONT, restarted on the same
// port and dir (so that its AOF data comes back). Live redis processes are
// SIGKILLed when the test process exits, as the harness does for servers.
//
//   const R = require('./redis.js');
//   const redis = await R.startRedis({ aof: true });
//   redis.url                       // redis://127.0.0.1:PORT/0
//   await redis.cli('SET', 'k', 'v') // 'OK' (parsed RESP: string, number, array, null)
//   await redis.dumpKeys('wrw-x')    // {key: {type, value, ttl}} for every key starting with wrw-x
//   await redis.commandstats()       // {get: 12, set: 3, ...}
//   redis.pause(); redis.resume(); await redis.restart(); await redis.stop();

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const L = require('./harness.js');

const REDIS_SERVER = process.env.WRW_REDIS_SERVER || '/usr/bin/redis-server';
const READY_TIMEOUT = 10000;
const CMD_TIMEOUT = 3000;

const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try { c.kill('SIGKILL'); } catch (_) { /* gone */ }
  }
});

// ---------------------------------------------------------------------------
// RESP

function encode(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8');
    parts.push(`$${b.length}\r\n`, b, '\r\n');
  }
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p, 'utf8'))));
}

class RedisError extends Error {
  constructor(message) {
    super(message);
    this.redisError = message;
  }
}

// Parses one RESP2/RESP3 value at `off`: {value, off} or null when incomplete.
// Errors are returned as RedisError values (thrown by the caller at top level).
function parse(buf, off = 0) {
  if (off >= buf.length) return null;
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, eol);
  const after = eol + 2;
  switch (type) {
    case '+': return { value: line, off: after };
    case '-': return { value: new RedisError(line), off: after };
    case ':': return { value: Number(line), off: after };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, off: after };
      if (buf.length < after + n + 2) return null;
      return { value: buf.toString('utf8', after, after + n), off: after + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, off: after };
      const out = [];
      let o = after;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, o);
        if (!r) return null;
        out.push(r.value);
        o = r.off;
      }
      return { value: out, off: o };
    }
    default:
      throw new Error(`RESP: unexpected type byte ${JSON.stringify(type)} in ${JSON.stringify(buf.toString('utf8', off, off + 80))}`);
  }
}

// Sends one command to 127.0.0.1:port on a new connection and resolves with
// the parsed reply; a Redis error reply rejects (err.redisError is its text);
// no reply within `timeout` ms rejects too (a paused Redis accepts but never answers).
function command(port, args, { timeout = CMD_TIMEOUT } = {}) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const sock = net.connect({ host: '127.0.0.1', port });
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err); else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`redis :${port} ${args[0]}: no reply within ${timeout} ms`)), timeout);
    sock.on('connect', () => sock.write(encode(args)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      let r;
      try {
        r = parse(buf);
      } catch (e) {
        finish(e);
        return;
      }
      if (!r) return;
      if (r.value instanceof RedisError) {
        r.value.message = `redis :${port} ${args.join(' ').slice(0, 200)}: ${r.value.message}`;
        finish(r.value);
      } else {
        finish(null, r.value);
      }
    });
    sock.on('error', (e) => finish(new Error(`redis :${port} ${args[0]}: ${e.message}`)));
    sock.on('close', () => finish(new Error(`redis :${port} ${args[0]}: connection closed before a reply`)));
  });
}

// ---------------------------------------------------------------------------
// The process.

// A port nothing listens on right now (the kernel's pick, released at once).
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Escapes the glob characters of a SCAN MATCH pattern.
const globEscape = (s) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

// Starts redis-server. Options: aof (default true: --appendonly yes
// --appendfsync always, so that a restart brings every write back), port
// (default: a free one), args (extra redis-server arguments).
async function startRedis({ aof = true, port = null, args: extraArgs = [] } = {}) {
  const dir = L.tempDir('wrw-redis-');
  const handle = {
    port: null,
    url: null,
    dir,
    child: null,
    paused: false,
    pid: () => (handle.child ? handle.child.pid : null),
    log: () => logTail,
  };
  let logTail = '';
  let expectingExit = false;
  let launching = false; // a failed launch throws with the log: no second report

  const flags = (p) => [
    '--port', String(p), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', aof ? 'yes' : 'no', '--appendfsync', 'always',
    '--protected-mode', 'no', '--daemonize', 'no', ...extraArgs,
  ];

  // Spawns redis-server on `p` and resolves once PING answers PONG (AOF loaded).
  async function launch(p) {
    launching = true;
    const child = spawn(REDIS_SERVER, flags(p), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    handle.child = child;
    handle.paused = false;
    expectingExit = false;
    const onData = (d) => {
      logTail = (logTail + d).slice(-20000);
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.exitInfo = null;
    child.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        live.delete(child);
        child.exitInfo = { code, signal };
        if (!expectingExit && handle.port === p && !launching) {
          process.stderr.write(`\n[redis] redis-server pid ${child.pid} on :${p} exited unexpectedly (code ${code}, signal ${signal}); log tail:\n${logTail.slice(-1500)}\n`);
        }
        resolve({ code, signal });
      });
      child.on('error', (e) => {
        live.delete(child);
        child.exitInfo = { code: null, signal: null, error: e.message };
        resolve(child.exitInfo);
      });
    });
    let stopWatching;
    const died = new Promise((_, reject) => {
      stopWatching = () => reject(new Error('done'));
      child.exited.then((info) => reject(new Error(`redis-server exited before answering PING: ${JSON.stringify(info)}`)));
    });
    died.catch(() => {});
    try {
      await Promise.race([
        // PONG from this very process (not another one holding the port), AOF loaded.
        L.poll(async () => (await command(p, ['PING'], { timeout: 1000 })) === 'PONG' &&
          new RegExp(`\\r\\nprocess_id:${child.pid}\\r\\n`).test(await command(p, ['INFO', 'server'], { timeout: 1000 })),
        { timeout: READY_TIMEOUT, every: 25, what: `redis-server pid ${child.pid} on :${p} answering PING` }),
        died,
      ]);
      stopWatching();
      launching = false;
    } catch (e) {
      launching = false;
      expectingExit = true;
      try { child.kill('SIGKILL'); } catch (_) { /* gone */ }
      await child.exited;
      e.message += `\nredis log:\n${logTail.slice(-2000)}`;
      throw e;
    }
    handle.port = p;
    handle.url = `redis://127.0.0.1:${p}/0`;
  }

  // A picked port can be taken between the pick and the bind: retry a few times.
  if (port !== null) {
    try {
      await launch(port);
    } catch (e) {
      L.removeDir(dir);
      throw e;
    }
  } else {
    let lastErr;
    for (let i = 0; i < 5 && handle.port === null; i++) {
      try {
        await launch(await freePort());
      } catch (e) {
        lastErr = e;
      }
    }
    if (handle.port === null) {
      L.removeDir(dir);
      throw lastErr;
    }
  }

  const alive = () => handle.child && !handle.child.exitInfo;

  // One command; parsed reply (see `command`). `{timeout}` as a last object argument is an option.
  handle.cli = (...args) => {
    let opts = {};
    if (args.length && args[args.length - 1] !== null && typeof args[args.length - 1] === 'object' && !Buffer.isBuffer(args[args.length - 1])) {
      opts = args.pop();
    }
    return command(handle.port, args.flat(), opts);
  };

  handle.pause = () => {
    if (!alive()) throw new Error('redis is not running');
    handle.child.kill('SIGSTOP');
    handle.paused = true;
  };
  handle.resume = () => {
    if (!alive()) throw new Error('redis is not running');
    handle.child.kill('SIGCONT');
    handle.paused = false;
  };

  // Graceful stop that keeps the data dir (SIGTERM: Redis fsyncs its AOF and
  // exits 0). Resolves with {code, signal}.
  handle.shutdown = async () => {
    if (!alive()) return handle.child ? handle.child.exitInfo : null;
    const child = handle.child;
    expectingExit = true;
    if (handle.paused) handle.resume();
    child.kill('SIGTERM');
    try {
      return await L.withTimeout(child.exited, 10000, `redis-server pid ${child.pid} exiting after SIGTERM`);
    } catch (e) {
      child.kill('SIGKILL');
      await child.exited;
      throw e;
    }
  };

  // A crash: kill -9, keeping the data dir (start() brings it back on its AOF).
  handle.kill9 = async () => {
    if (!alive()) return;
    expectingExit = true;
    handle.child.kill('SIGKILL');
    await handle.child.exited;
  };

  // Starts it again on the same port and dir (after shutdown, or a crash).
  handle.start = async () => {
    if (alive()) throw new Error('redis is already running');
    await launch(handle.port);
  };

  // shutdown + start: the AOF (with aof: true) brings the data back.
  handle.restart = async () => {
    const exit = await handle.shutdown();
    if (exit && (exit.code !== 0 || exit.signal)) throw new Error(`redis-server did not shut down cleanly: ${JSON.stringify(exit)}\n${logTail.slice(-2000)}`);
    await handle.start();
  };

  // Kills it for good (state does not matter) and removes its dir.
  handle.stop = async () => {
    if (alive()) {
      expectingExit = true;
      handle.child.kill('SIGKILL');
      await handle.child.exited;
    }
    L.removeDir(dir);
  };

  // Every key starting with `prefix` (exactly as given; '' for all) ->
  // {type, value, ttl}: string -> the string, set -> sorted members, hash ->
  // {field: value}, zset -> [[member, score]...], list -> elements, stream ->
  // [[id, [field, value...]]...]; ttl in ms (-1: none).
  handle.keys = async (prefix = '') => {
    const found = new Set();
    let cursor = '0';
    do {
      // eslint-disable-next-line no-await-in-loop
      const [next, batch] = await handle.cli('SCAN', cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', '1000');
      for (const k of batch) found.add(k);
      cursor = next;
    } while (cursor !== '0');
    return [...found].sort();
  };

  handle.dumpKeys = async (prefix = '') => {
    const out = {};
    for (const key of await handle.keys(prefix)) {
      const type = await handle.cli('TYPE', key);
      let value;
      switch (type) {
        case 'none': continue; // expired between SCAN and TYPE
        case 'string': value = await handle.cli('GET', key); break;
        case 'set': value = (await handle.cli('SMEMBERS', key)).sort(); break;
        case 'hash': {
          const flat = await handle.cli('HGETALL', key);
          value = {};
          for (let i = 0; i < flat.length; i += 2) value[flat[i]] = flat[i + 1];
          break;
        }
        case 'zset': {
          const flat = await handle.cli('ZRANGE', key, '0', '-1', 'WITHSCORES');
          value = [];
          for (let i = 0; i < flat.length; i += 2) value.push([flat[i], Number(flat[i + 1])]);
          break;
        }
        case 'list': value = await handle.cli('LRANGE', key, '0', '-1'); break;
        case 'stream': value = await handle.cli('XRANGE', key, '-', '+'); break;
        default: value = `<${type}>`;
      }
      out[key] = { type, value, ttl: await handle.cli('PTTL', key) };
    }
    return out;
  };

  // INFO <section> as {field: value} (numbers where they are numbers).
  handle.info = async (section = 'default') => {
    const text = await handle.cli('INFO', section);
    const out = {};
    for (const line of String(text).split('\r\n')) {
      if (!line || line.startsWith('#')) continue;
      const i = line.indexOf(':');
      if (i < 0) continue;
      const v = line.slice(i + 1);
      out[line.slice(0, i)] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
    }
    return out;
  };

  // INFO commandstats as {command: calls} (e.g. {get: 12, 'client|setname': 2}).
  handle.commandstats = async () => {
    const out = {};
    for (const [k, v] of Object.entries(await handle.info('commandstats'))) {
      const m = /^cmdstat_(.+)$/.exec(k);
      const c = /(?:^|,)calls=(\d+)/.exec(String(v));
      if (m && c) out[m[1]] = Number(c[1]);
    }
    return out;
  };

  // The channels someone is subscribed to that match `pattern` (PUBSUB CHANNELS).
  handle.channels = async (pattern = '*') => (await handle.cli('PUBSUB', 'CHANNELS', pattern)).sort();

  handle.aofFiles = () => {
    const d = path.join(dir, 'appendonlydir');
    return fs.existsSync(d) ? fs.readdirSync(d) : [];
  };

  return handle;
}

module.exports = { startRedis, command, freePort, RedisError, REDIS_SERVER };
