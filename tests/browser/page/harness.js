// In-page harness for the browser smoke test (socket.io-client 2.x global `io`).
// Every method returns a promise that settles within the given bound; the
// Node side drives it with page.evaluate. Events are queued as they arrive,
// so a wait set up after the event came in still sees it.
'use strict';
(function () {
  var h = { socket: null, queue: [], received: [], wakers: [] };

  function wake() {
    h.wakers.slice().forEach(function (f) { f(); });
  }

  function describeError(e) {
    if (e == null) return String(e);
    if (typeof e === 'string') return e;
    var parts = [];
    if (e.message) parts.push(e.message);
    if (e.type) parts.push('type=' + e.type);
    if (e.description !== undefined) parts.push('description=' + JSON.stringify(e.description));
    return parts.length ? parts.join(' ') : JSON.stringify(e);
  }

  h.transport = function () {
    return h.socket && h.socket.io.engine && h.socket.io.engine.transport
      ? h.socket.io.engine.transport.name : null;
  };

  h.connect = function (url, opts, timeoutMs) {
    return new Promise(function (resolve, reject) {
      var options = Object.assign({ forceNew: true, reconnection: false, timeout: timeoutMs }, opts);
      var s = io(url, options);
      h.socket = s;
      var origOnevent = s.onevent;
      s.onevent = function (packet) {
        var data = packet.data || [];
        h.received.push(data[0]);
        h.queue.push({ name: data[0], arg: data[1] });
        console.log('[harness] <- ' + data[0] + ' ' + JSON.stringify(data[1]).slice(0, 300));
        origOnevent.call(this, packet);
        wake();
      };
      var timer = setTimeout(function () {
        finish(new Error('no "connect" within ' + timeoutMs + ' ms (transport ' + h.transport() + ')'));
      }, timeoutMs);
      function finish(err, val) {
        clearTimeout(timer);
        s.off('connect', onConnect); s.off('connect_error', onError);
        s.off('connect_timeout', onTimeout); s.off('error', onError);
        if (err) reject(err); else resolve(val);
      }
      function onConnect() {
        var engine = s.io.engine;
        console.log('[harness] connected sid=' + engine.id + ' transport=' + engine.transport.name);
        finish(null, { transport: engine.transport.name, upgrades: engine.upgrades || [] });
      }
      function onError(e) {
        console.error('[harness] connect error: ' + describeError(e));
        finish(new Error('connect_error: ' + describeError(e)));
      }
      function onTimeout() { finish(new Error('connect_timeout (transport ' + h.transport() + ')')); }
      s.on('connect', onConnect);
      s.on('connect_error', onError);
      s.on('connect_timeout', onTimeout);
      s.on('error', onError);
      s.on('disconnect', function (reason) { console.log('[harness] disconnect: ' + reason); });
      s.io.engine.on('upgrade', function (t) { console.log('[harness] engine upgraded to ' + t.name); });
      s.io.engine.on('upgradeError', function (e) { console.error('[harness] upgradeError: ' + describeError(e)); });
    });
  };

  h.waitFor = function (name, timeoutMs) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        done();
        reject(new Error('no "' + name + '" within ' + timeoutMs + ' ms; events received so far: ' +
          JSON.stringify(h.received) + '; transport ' + h.transport() +
          '; connected ' + (h.socket && h.socket.connected)));
      }, timeoutMs);
      function done() {
        clearTimeout(timer);
        var i = h.wakers.indexOf(check);
        if (i >= 0) h.wakers.splice(i, 1);
      }
      function check() {
        if (name !== 'alert') {
          var a = h.queue.findIndex(function (e) { return e.name === 'alert'; });
          if (a >= 0) {
            var alert = h.queue.splice(a, 1)[0];
            done();
            reject(new Error('server sent alert ' + JSON.stringify(alert.arg) + ' while waiting for "' + name + '"'));
            return;
          }
        }
        var j = h.queue.findIndex(function (e) { return e.name === name; });
        if (j >= 0) {
          var ev = h.queue.splice(j, 1)[0];
          done();
          resolve(ev.arg === undefined ? null : ev.arg);
        }
      }
      h.wakers.push(check);
      check();
    });
  };

  h.emit = function (name, payload) {
    h.socket.emit(name, payload);
    return true;
  };

  h.emitAndWait = function (name, payload, reply, timeoutMs) {
    var p = h.waitFor(reply, timeoutMs);
    h.socket.emit(name, payload);
    return p;
  };

  h.waitUpgrade = function (timeoutMs) {
    var engine = h.socket.io.engine;
    if (engine.transport.name === 'websocket') return Promise.resolve('websocket');
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () {
        cleanup();
        reject(new Error('engine did not upgrade within ' + timeoutMs + ' ms: transport ' +
          engine.transport.name + ', upgrading=' + engine.upgrading +
          ', upgrades offered by the handshake=' + JSON.stringify(engine.upgrades)));
      }, timeoutMs);
      function onUpgrade(t) { cleanup(); resolve(t.name); }
      function onError(e) { cleanup(); reject(new Error('upgradeError: ' + describeError(e))); }
      function cleanup() {
        clearTimeout(timer);
        engine.off('upgrade', onUpgrade);
        engine.off('upgradeError', onError);
      }
      engine.on('upgrade', onUpgrade);
      engine.on('upgradeError', onError);
    });
  };

  h.unconsumed = function () {
    return h.queue.map(function (e) { return e.name; });
  };

  h.close = function () {
    if (h.socket) h.socket.close();
    return true;
  };

  window.harness = h;
})();
