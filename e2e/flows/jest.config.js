// Cross-service flows: several real services in one process (each through its `@cvp/<app>/testing`
// entry point) over the run's nats-server. Their coverage counts for every app and lib they run.
//
// One suite at a time: every suite starts a gateway that answers the cvp.registry.* subjects and
// consumes the job event stream, and two gateways on one nats-server would take each other's
// messages. ort-environment: the bench worker and the data plane run onnxruntime-node in process.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const projects = ['apps', 'libs'].flatMap((dir) => fs.readdirSync(path.join(root, dir)).map((p) => `${dir}/${p}`));

module.exports = require('../../tools/jest/preset')(__dirname, {
  coverageOf: projects,
  maxWorkers: 1,
  testEnvironment: require.resolve('../../tools/jest/ort-environment.js'),
});
