'use strict';
// socket.io-client 4 over websocket; the suite itself is in ../suite.js.
require('../suite')({ client: '4', transport: 'websocket' });
