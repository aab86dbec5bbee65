// maxWorkers 1: the suites run real python trainings (2 cores) and share one nats-server whose
// registry subjects they answer; running them one at a time keeps both honest.
module.exports = require('../../tools/jest/preset')(__dirname, { maxWorkers: 1, testTimeout: 300000 });
