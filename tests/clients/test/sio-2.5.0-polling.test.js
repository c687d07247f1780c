'use strict';
// socket.io-client 2.5.0 over polling; the suite itself is in ../suite.js.
require('../suite')({ client: '2.5.0', transport: 'polling' });
