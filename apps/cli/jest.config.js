// The CLI runs in-process against the compiled gateway in its own process; the Ink views (ES
// modules) are exercised by the terminal tests in e2e/src/cli.
module.exports = require('../../tools/jest/preset')(__dirname);
