'use strict';
// socket.io-client 4 over polling; the suite itself is in ../suite.js.
require('../suite')({ client: '4', transport: 'polling' });
