// One test file at a time: package-job answers the cvp.registry.* subjects with a registry double
// and bundle-run deploys over cvp.deployments.*; suites in parallel on the run's one nats-server
// would see each other's messages.
module.exports = require('../../tools/jest/preset')(__dirname, { maxWorkers: 1 });
