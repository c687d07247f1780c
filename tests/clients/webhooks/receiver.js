'use strict';
// A webhook receiver on the loopback for the webhook tests (webhooks-spec):
// one HTTP listener that records every request it gets (headers, raw body,
// the time it arrived, what it answered), checks each one's Standard Webhooks
// signature with the npm package `standardwebhooks` against the secrets it
// was given, and answers as the test tells it: 2xx, 500, 410, 503/429 with a
// Retry-After, after a delay, or not at all because it is down (its listener
// closed and its open connections cut; `up()` listens on the same port again).
// Waits are event-driven (every recorded request is announced) and bounded.

const { EventEmitter } = require('node:events');
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { Webhook } = require('standardwebhooks');
const L = require('../harness.js');

const DEFAULT_WAIT = 10000;

// The Standard Webhooks check of one request against one secret ('whsec_...'):
// true when `new Webhook(secret).verify(body, headers)` accepts it.
function verifies(secret, body, headers) {
  try {
    new Webhook(secret).verify(body, {
      'webhook-id': headers['webhook-id'],
      'webhook-timestamp': headers['webhook-timestamp'],
      'webhook-signature': headers['webhook-signature'],
    });
    return true;
  } catch (_) {
    return false;
  }
}

// The answer of a request: {status = 200, headers = {}, body = '', delayMs = 0,
// until = a promise to wait for before answering}; `answer` may be a function
// of the recorded request returning such an object.
const OK = { status: 200 };

// Whether a recorded request was answered with a 2xx (its answer written, not cut off).
const delivered = (r) => r.status >= 200 && r.status < 300 && r.answeredAt !== null && !r.aborted;

class Receiver extends EventEmitter {
  constructor({ secrets = [], path = '/hook', label = 'receiver' } = {}) {
    super();
    this.setMaxListeners(0);
    this.secrets = secrets;
    this.path = path;
    this.label = label;
    this.requests = [];
    this.answer = OK;
    this.once_ = [];
    this.port = null;
    this.isUp = false;
    this.sockets = new Set();
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  // The URL to configure in webhook_urls.
  get url() {
    return `http://127.0.0.1:${this.port}${this.path}`;
  }

  async listen(port = 0) {
    await new Promise((resolve, reject) => {
      const onError = (e) => reject(new Error(`${this.label}: cannot listen on 127.0.0.1:${port}: ${e.message}`));
      this.server.once('error', onError);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.port = this.server.address().port;
    this.isUp = true;
    return this;
  }

  // Every later request gets `answer` (an object or a function of the request).
  respond(answer) {
    this.answer = answer;
  }

  // The next requests get these answers, one each, before `respond`'s takes over.
  respondOnce(...answers) {
    this.once_.push(...answers);
  }

  handle(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      let json = null;
      try { json = JSON.parse(body); } catch (_) { /* recorded as null */ }
      const r = {
        n: this.requests.length,
        receiver: this.label,
        at: performance.now(),
        wall: Date.now(),
        method: req.method,
        path: req.url,
        headers: req.headers,
        raw,
        body,
        json,
        id: req.headers['webhook-id'],
        timestamp: req.headers['webhook-timestamp'],
        signature: req.headers['webhook-signature'],
        verifiedBy: this.secrets.map((s) => verifies(s, body, req.headers)),
        status: null,
        answeredAt: null,
        aborted: false,
      };
      r.verified = this.secrets.length > 0 && r.verifiedBy.every(Boolean);
      this.requests.push(r);
      let a = this.once_.length ? this.once_.shift() : this.answer;
      if (typeof a === 'function') a = a(r) || OK;
      r.status = a.status || 200;
      // Cut off before the answer was written (the sender gave up, or `down()`).
      res.on('close', () => { if (!res.writableFinished) r.aborted = true; });
      // The answer is decided (and recorded) before the wait: the test knows at once what it will be.
      this.emit('request', r);
      if (a.delayMs) await new Promise((done) => setTimeout(done, a.delayMs));
      if (a.until) await a.until;
      if (r.aborted || res.destroyed || req.socket.destroyed) {
        r.aborted = true;
        return;
      }
      res.writeHead(r.status, { 'content-type': 'text/plain', ...(a.headers || {}) });
      res.end(a.body === undefined ? '' : a.body);
      r.answeredAt = performance.now();
      this.emit('request', r);
    });
  }

  // Closes the listener and cuts every open connection: tries now meet a refused connection.
  async down() {
    if (!this.isUp) return;
    this.isUp = false;
    const closed = new Promise((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // Listens again on the same port.
  async up() {
    if (this.isUp) return;
    await this.listen(this.port);
  }

  async close() {
    await this.down();
  }

  // The recorded requests matching `pred` (all by default).
  matching(pred = () => true) {
    return this.requests.filter(pred);
  }

  // Resolves with the first `count` recorded requests matching `pred` once
  // there are that many; fails after `timeout` ms naming `what`.
  waitCount(pred, count, { timeout = DEFAULT_WAIT, what = 'requests' } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.requests.filter(pred);
        if (found.length >= count) {
          clearTimeout(timer);
          this.off('request', check);
          resolve(found.slice(0, count));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.off('request', check);
        const got = this.requests.filter(pred).length;
        reject(new Error(`${this.label}: timed out after ${timeout} ms waiting for ${count} ${what} (got ${got}); ` +
          `last requests: ${this.describe(this.requests.slice(-8))}`));
      }, timeout);
      if (!check()) this.on('request', check);
    });
  }

  // Resolves with the first recorded request matching `pred` (one already there, or the next).
  async waitFor(pred, opts = {}) {
    return (await this.waitCount(pred, 1, opts))[0];
  }

  // Resolves once `count` requests matching `pred` have been answered with a 2xx.
  waitDelivered(pred, count = 1, opts = {}) {
    return this.waitCount((r) => delivered(r) && pred(r), count, opts);
  }

  describe(rs) {
    return JSON.stringify(rs.map((r) => ({
      n: r.n, id: r.id, status: r.status, type: r.json && r.json.type,
      ws: r.json && r.json.data && r.json.data.workspace && r.json.data.workspace.id,
      seq: r.json && r.json.data && r.json.data.seq,
    })));
  }
}

// Starts a receiver on an ephemeral loopback port.
async function startReceiver(opts) {
  return new Receiver(opts).listen(0);
}

// A new Standard Webhooks secret: 'whsec_' + base64 of `bytes` random bytes.
function newSecret(bytes = 32) {
  return `whsec_${require('node:crypto').randomBytes(bytes).toString('base64')}`;
}

// The webhook metrics of one server's /metrics, in one scrape.
async function hookMetrics(srv) {
  const m = await L.scrape(srv.url);
  return {
    delivered: L.metric(m, 'wrw_webhook_deliveries_total', { result: 'delivered' }, 0),
    retried: L.metric(m, 'wrw_webhook_deliveries_total', { result: 'retried' }, 0),
    failed: L.metric(m, 'wrw_webhook_deliveries_total', { result: 'failed' }, 0),
    pending: L.metric(m, 'wrw_webhook_pending'),
    oldest: L.metric(m, 'wrw_webhook_oldest_pending_seconds'),
  };
}
module.exports = { Receiver, startReceiver, newSecret, verifies, delivered, hookMetrics };
