'use strict';
/**
 * The demo of SPEC.md, run by the supervisor once on an empty data dir (CVP_DEMO=0 skips it):
 * import preset yolov8n -> optimization protocol on the CPU engines -> deploy the selected engine
 * -> one detection request; then the gateway URL, the report URL and a ready-to-paste curl.
 * Also runnable alone against a running platform: node scripts/demo.js (CVP_ADMIN_PASSWORD set).
 */
const fs = require('node:fs');
const path = require('node:path');
const { gatewayApi: api } = require('./lib/gateway-api');
const { printCvpCommands } = require('./lib/cvp-commands');

const JOB_TIMEOUT_MS = Number(process.env.CVP_DEMO_JOB_TIMEOUT_MS || 20 * 60 * 1000);

/** Polls a job until it ends; bounded by JOB_TIMEOUT_MS. */
async function waitJob(base, token, jobId, label, log) {
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  let lastStage = '';
  for (;;) {
    const job = await api(base, token, 'GET', `/jobs/${jobId}`);
    const stage = `${job.state} ${Math.round((job.progress || 0) * 100)}%`;
    if (stage !== lastStage) log(`demo: ${label}: ${stage}`);
    lastStage = stage;
    if (job.state === 'succeeded') return job;
    if (job.state === 'failed' || job.state === 'cancelled')
      throw new Error(`${label} ${job.state}: ${job.error || ''}`);
    if (Date.now() > deadline) throw new Error(`${label} still ${job.state} after ${JOB_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** A 640x480 PNG with two solid shapes, so the request carries a real image. */
async function demoImage(dataDir) {
  const sharp = require('sharp');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><rect width="640" height="480" fill="#7a8a99"/><rect x="120" y="100" width="200" height="160" fill="#d23"/><circle cx="470" cy="300" r="80" fill="#2b5"/></svg>`;
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  const file = path.join(dataDir, 'demo.png');
  fs.writeFileSync(file, png);
  return { png, file };
}

async function runDemo({ ports, log, admin, dataDir }) {
  const origin = `http://127.0.0.1:${ports.gateway}`;
  const base = `${origin}/api/v1`;
  log('demo: logging in as the seeded admin');
  const { accessToken: token } = await api(base, null, 'POST', '/auth/login', {
    username: admin.username,
    password: admin.password,
  });

  log(
    'demo: 1/4 importing preset yolov8n (built from its architecture definition: untrained, no weights can be downloaded here)',
  );
  const preset = await api(base, token, 'POST', '/models/presets/yolov8n');
  const modelId = preset.model.id;
  await waitJob(base, token, preset.job.id, 'conversion', log);

  log('demo: 2/4 optimization protocol on the CPU engines (the 9 steps; GPU steps are recorded as skipped here)');
  const benchJob = await api(base, token, 'POST', '/jobs/bench', { modelId, constraints: {} });
  const bench = await waitJob(base, token, benchJob.id, 'benchmark', log);
  const benchmarkId = bench.result && bench.result.benchmarkId;
  const selected = bench.result && bench.result.selected;
  log(`demo: selected engine: ${selected ? JSON.stringify(selected) : 'none satisfied the constraints'}`);

  log('demo: 3/4 deploying the selected engine');
  const dep = await api(base, token, 'POST', '/deployments', { modelId, engine: 'selected' });
  const deadline = Date.now() + 5 * 60 * 1000;
  for (let d = dep; d.state !== 'ready'; d = await api(base, token, 'GET', `/deployments/${dep.id}`)) {
    if (d.state === 'failed') throw new Error(`deployment failed: ${d.error || ''}`);
    if (Date.now() > deadline) throw new Error(`deployment still ${d.state} after 5 minutes`);
    await new Promise((r) => setTimeout(r, 1000));
  }

  log('demo: 4/4 one detection request through the gateway');
  const { png, file } = await demoImage(dataDir);
  const detections = await api(base, token, 'POST', `/models/${modelId}/infer`, new Uint8Array(png), {
    'content-type': 'image/png',
  });
  const n = (detections.detections || []).length;
  log(
    `demo: ${n} detection(s) (an untrained model finds little or nothing; the path is what this shows), timing_ms=${JSON.stringify(detections.timing_ms || {})}`,
  );

  log(`demo: gateway   ${base}  (OpenAPI UI: ${origin}/api/docs)`);
  if (benchmarkId) {
    log(`demo: report    ${base}/benchmarks/${benchmarkId}/report?view=technical&format=html`);
    log(`demo: simple    ${base}/benchmarks/${benchmarkId}/report?view=simple&format=html`);
  }
  log(
    `demo: curl -s -X POST -H "authorization: Bearer ${token}" -H "content-type: image/png" --data-binary @${file} ${base}/models/${modelId}/infer`,
  );
  printCvpCommands(log, { gatewayUrl: origin, adminUsername: admin.username, modelId, benchmarkId, imageFile: file });
}

module.exports = { runDemo };

if (require.main === module) {
  const port = Number(process.env.CVP_GATEWAY_PORT || 3000);
  runDemo({
    ports: { gateway: port },
    log: (m) => console.log(m),
    admin: { username: process.env.CVP_ADMIN_USERNAME || 'admin', password: process.env.CVP_ADMIN_PASSWORD },
    dataDir: path.resolve(__dirname, '..', process.env.CVP_DATA_DIR || 'var'),
  }).catch((e) => {
    console.error(`demo failed: ${e.message}`);
    process.exit(1);
  });
}
