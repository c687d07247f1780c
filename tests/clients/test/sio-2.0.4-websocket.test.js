'use strict';
// socket.io-client 2.0.4 over websocket; the suite itself is in ../suite.js.
require('../suite')({ client: '2.0.4', transport: 'websocket' });
