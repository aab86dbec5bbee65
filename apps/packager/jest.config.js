// One test file at a time: package-flow starts a real gateway whose registry responders share the
// cvp.registry.* subjects with the registry test double of the other suites.
module.exports = require('../../tools/jest/preset')(__dirname, { maxWorkers: 1 });
