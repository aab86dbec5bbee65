// Cross-process tests of the compiled platform (dist/, built by the bootstrap): they spawn the
// real supervisor and services, so they carry no in-process coverage of their own.
module.exports = require('../../tools/jest/preset')(__dirname, { testTimeout: 180000 });
