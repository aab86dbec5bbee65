'use strict';
// Publishes cvp.deployments.changed events (DeploymentChangedContract, schema v1) to deploy models on
// a running inference service, as the gateway does. Usage:
//   node deploy.js <nats-url> <name>=<engine>:<onnx path> [...]
const { connect, StringCodec } = require('nats');

async function main() {
  const [url, ...specs] = process.argv.slice(2);
  const nc = await connect({ servers: url, timeout: 5000 });
  const sc = StringCodec();
  for (const spec of specs) {
    const m = /^([^=]+)=(native|ort-node):(.+)$/.exec(spec);
    if (!m) throw new Error(`bad spec ${spec}; expected name=engine:path`);
    const [, modelName, engine, modelPath] = m;
    const ev = {
      schemaVersion: 1,
      action: 'deploy',
      deploymentId: `pytest-${modelName}`,
      modelName,
      config: {
        engine,
        modelPath,
        options: { provider: 'cpu', precision: 'fp32', graphOptimization: 'all', threads: 1, maxBatch: 1 },
      },
    };
    nc.publish('cvp.deployments.changed', sc.encode(JSON.stringify(ev)));
  }
  await nc.drain();
}
main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
