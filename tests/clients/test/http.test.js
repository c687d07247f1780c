'use strict';
// docs/PROTOCOL.md § HTTP: the "is my server running?" page and CORS for the
// Engine.IO endpoints (the library's page is usually on another origin and
// socket.io 2 polling sends credentials).

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../harness');

const { request } = h;

describe('HTTP', () => {
  let server;
  before(async () => { server = await h.startServer(); });
  after(async () => { if (server) await server.stop(); });

  it('GET / answers 200 with a small HTML page', async () => {
    const r = await request(`${server.url}/`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.ok(r.body.length > 0);
  });

  const ORIGIN = 'http://app.example.test:8080';
  for (const eio of ['3', '4']) {
    it(`EIO=${eio} polling handshake from another origin: origin echoed, credentials allowed`, async () => {
      const r = await request(`${server.url}/socket.io/?EIO=${eio}&transport=polling&t=abc`, { headers: { Origin: ORIGIN } });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
      assert.equal(r.headers['access-control-allow-credentials'], 'true');
      assert.match(r.body, /"sid"/);
    });

    it(`EIO=${eio} polling preflight from another origin passes`, async () => {
      const r = await request(`${server.url}/socket.io/?EIO=${eio}&transport=polling&t=abc`, {
        method: 'OPTIONS',
        headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
      });
      assert.ok(r.status >= 200 && r.status < 300, `status ${r.status}`);
      assert.equal(r.headers['access-control-allow-origin'], ORIGIN);
      assert.equal(r.headers['access-control-allow-credentials'], 'true');
    });
  }
});
