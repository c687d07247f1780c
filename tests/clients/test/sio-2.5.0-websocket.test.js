'use strict';
// socket.io-client 2.5.0 over websocket; the suite itself is in ../suite.js.
require('../suite')({ client: '2.5.0', transport: 'websocket' });
