'use strict';
/**
 * The demo, run by the supervisor once on an empty data dir (CVP_DEMO=0 skips it), all through
 * the REST API:
 *   1. generate cvp's labelled shapes data set (recipe shapes-demo: 300 train / 100 held-out val
 *      images) and upload it;
 *   2. a detector with learned weights: preset yolov8n -> train job on that data set -> a new model
 *      version with its ONNX (or, when this data dir already trained this recipe, its cached
 *      weights uploaded as an Ultralytics model);
 *   3. the optimization protocol on that version with the data set attached: accuracy = mAP@0.5
 *      on held-out images, INT8 calibrated on the data set's images;
 *   4. deploy the selected engine;
 *   5. one detection request on a held-out image, its detections printed next to its labels.
 * An untrained network would pass every accuracy check by construction (its output barely
 * depends on its input); this one has something to lose.
 * Also runnable alone against a running platform: node scripts/demo.js (CVP_ADMIN_PASSWORD set).
 */
const fs = require('node:fs');
const path = require('node:path');
const { gatewayApi: api } = require('./lib/gateway-api');
const { cvpMl } = require('./lib/cvp-ml');
const { printCvpCommands } = require('./lib/cvp-commands');

const RECIPE = 'shapes-demo';
const JOB_TIMEOUT_MS = Number(process.env.CVP_DEMO_JOB_TIMEOUT_MS || 20 * 60 * 1000);
// The accuracy budget the selector judges every candidate against: at most 1 point of mAP@0.5.
const MAX_ACCURACY_DROP = 0.01;

/** Polls a job until it ends; bounded by JOB_TIMEOUT_MS. */
async function waitJob(base, token, jobId, label, log) {
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  let lastStage = '';
  for (;;) {
    const job = await api(base, token, 'GET', `/jobs/${jobId}`);
    // a line per state change and per tenth of progress keeps the transcript short
    const stage = `${job.state} ${Math.floor((job.progress || 0) * 10) * 10}%`;
    if (stage !== lastStage) log(`demo:   ${label}: ${stage}`);
    lastStage = stage;
    if (job.state === 'succeeded') return job;
    if (job.state === 'failed' || job.state === 'cancelled')
      throw new Error(`${label} ${job.state}: ${job.error || ''}`);
    if (Date.now() > deadline) throw new Error(`${label} still ${job.state} after ${JOB_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

const fmt = (v, d = 3) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : 'n/a');

/** Writes a file by temp + rename, so a reader never sees half of it. */
function writeAtomic(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** The data set of the recipe, generated once per key under the data dir, and its upload zip. */
async function generateDataset(recipe, dataDir) {
  const dir = path.join(dataDir, 'demo', `${RECIPE}-${recipe.key}`);
  const zip = `${dir}.zip`;
  // the zip is written last (temp + rename): without it the folder may be incomplete
  if (!fs.existsSync(zip)) {
    fs.rmSync(dir, { recursive: true, force: true });
    const d = recipe.dataset;
    await cvpMl(
      'synth-dataset',
      ['--kind', d.kind, '--out', dir, '--images', d.images, '--classes', d.classes, '--imgsz', d.imgsz].concat([
        '--seed',
        d.seed,
        '--zip',
        zip,
      ]),
      { dataDir },
    );
  }
  return { dir, zip };
}

/** The trained weights this data dir already made for this recipe key, if any. */
function cachedWeights(dataDir, key) {
  const dir = path.join(dataDir, 'cache', 'trained', `${RECIPE}-${key}`);
  const meta = path.join(dir, 'trained.json');
  if (process.env.CVP_DEMO_RETRAIN === '1' || !fs.existsSync(meta)) return { dir, hit: null };
  const info = JSON.parse(fs.readFileSync(meta, 'utf8'));
  return { dir, hit: fs.existsSync(path.join(dir, 'model.pt')) ? info : null };
}

function intersectionOverUnion(a, b) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Ground truth of a generated image from its YOLO label file, in pixels. */
function labelsOf(datasetDir, imageFile, imgsz, names) {
  const txt = path.join(datasetDir, 'labels', 'val', `${path.basename(imageFile, path.extname(imageFile))}.txt`);
  return fs
    .readFileSync(txt, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [k, cx, cy, w, h] = l.trim().split(/\s+/).map(Number);
      const box = [(cx - w / 2) * imgsz, (cy - h / 2) * imgsz, (cx + w / 2) * imgsz, (cy + h / 2) * imgsz];
      return { classId: k, label: names[k], box: box.map((v) => Math.round(v)) };
    });
}

async function runDemo({ ports, log, admin, dataDir }) {
  const t0 = Date.now();
  const timings = {};
  const step = async (name, fn) => {
    const s = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round((Date.now() - s) / 1000);
    }
  };
  const at = () => `[${String(Math.round((Date.now() - t0) / 1000)).padStart(3)} s]`;
  const origin = `http://127.0.0.1:${ports.gateway}`;
  const base = `${origin}/api/v1`;
  log('demo: logging in as the seeded admin');
  const { accessToken: token } = await api(base, null, 'POST', '/auth/login', {
    username: admin.username,
    password: admin.password,
  });

  const recipe = await cvpMl('recipe', ['--name', RECIPE], { dataDir });
  const d = recipe.dataset;
  const tr = recipe.train;
  log(
    `demo: ${at()} 1/5 data set: ${d.images} generated ${d.imgsz}x${d.imgsz} images of ${d.classes} shape classes, ` +
      `75 % train / 25 % held-out val (recipe ${RECIPE}, key ${recipe.key})`,
  );
  const dataset = await step('dataset', async () => {
    const { dir, zip } = await generateDataset(recipe, dataDir);
    const fd = new FormData();
    fd.append('format', 'yolo');
    fd.append('name', `shapes-${d.imgsz}px`);
    fd.append('file', new Blob([fs.readFileSync(zip)]), path.basename(zip));
    const ds = await api(base, token, 'POST', '/datasets', fd, {}, 120_000);
    if (!ds.valid) throw new Error(`the generated data set failed validation: ${JSON.stringify(ds.problems || ds)}`);
    log(`demo:   uploaded data set ${ds.id}: classes ${JSON.stringify(ds.classes)}`);
    return { id: ds.id, dir, zip, names: ds.classes };
  });
  const names = dataset.names;

  const cache = cachedWeights(dataDir, recipe.key);
  let modelId;
  let trained;
  if (cache.hit) {
    log(
      `demo: ${at()} 2/5 reusing the weights train job ${cache.hit.jobId} made for this recipe (mAP@0.5 ${fmt(cache.hit.map50)} ` +
        `on the held-out images) from ${cache.dir}; CVP_DEMO_RETRAIN=1 trains again`,
    );
    trained = await step('model', async () => {
      const fd = new FormData();
      fd.append('format', 'ultralytics');
      fd.append('task', 'detect');
      fd.append('name', `shapes-yolov8n-${tr.imgsz} (trained, from the demo cache)`);
      fd.append('inputShape', `1,3,${tr.imgsz},${tr.imgsz}`);
      fd.append('labels', JSON.stringify(names));
      fd.append('file', new Blob([fs.readFileSync(path.join(cache.dir, 'model.pt'))]), 'model.pt');
      const up = await api(base, token, 'POST', '/models', fd, {}, 120_000);
      modelId = up.model.id;
      await waitJob(base, token, up.job.id, 'conversion', log);
      return cache.hit;
    });
  } else {
    log(
      `demo: ${at()} 2/5 training: preset yolov8n (its architecture, untrained) -> train job, ${tr.epochs} epochs at ` +
        `${tr.imgsz} px, batch ${tr.batch}, seed ${tr.seed}, on the CPU`,
    );
    trained = await step('model', async () => {
      // labels: what the data plane names each class id in its detections
      const preset = await api(base, token, 'POST', '/models/presets/yolov8n', {
        name: `shapes-yolov8n-${tr.imgsz}`,
        labels: names,
      });
      modelId = preset.model.id;
      await waitJob(base, token, preset.job.id, 'preset conversion', log);
      const job = await api(base, token, 'POST', '/jobs/train', {
        modelId,
        datasetId: dataset.id,
        epochs: tr.epochs,
        imgsz: tr.imgsz,
        batch: tr.batch,
        device: 'cpu',
        seed: tr.seed,
      });
      const done = await waitJob(base, token, job.id, 'training', log);
      const r = done.result;
      const info = {
        key: recipe.key,
        recipe: RECIPE,
        jobId: job.id,
        modelId,
        version: r.version,
        map50: r.metrics?.['metrics/mAP50(B)'] ?? null,
        map50_95: r.metrics?.['metrics/mAP50-95(B)'] ?? null,
        trainSeconds: r.trainSeconds,
        keyInputs: { code_sha256: recipe.code_sha256, versions: recipe.versions, train: tr, dataset: d },
        createdAt: new Date().toISOString(),
      };
      // cache the checkpoint first, the record last: a record always names a complete file
      writeAtomic(path.join(cache.dir, 'model.pt'), fs.readFileSync(r.sourcePath));
      writeAtomic(path.join(cache.dir, 'trained.json'), JSON.stringify(info, null, 2));
      return info;
    });
    log(
      `demo:   trained version ${trained.version} in ${fmt(trained.trainSeconds, 0)} s: mAP@0.5 ${fmt(trained.map50)}, ` +
        `mAP@0.5:0.95 ${fmt(trained.map50_95)} on the ${d.images / 4} held-out images (Ultralytics' validation); ` +
        `weights cached in ${cache.dir}`,
    );
  }

  log(
    `demo: ${at()} 3/5 optimization protocol on the trained model with the data set attached ` +
      `(accuracy = mAP@0.5 on held-out images, INT8 calibrated on its images; maxAccuracyDrop ${MAX_ACCURACY_DROP})`,
  );
  const bench = await step('bench', async () => {
    const job = await api(base, token, 'POST', '/jobs/bench', {
      modelId,
      datasetId: dataset.id,
      inputShape: [1, 3, tr.imgsz, tr.imgsz],
      constraints: { maxAccuracyDrop: MAX_ACCURACY_DROP },
    });
    return (await waitJob(base, token, job.id, 'benchmark', log)).result;
  });
  const benchmarkId = bench && bench.benchmarkId;
  const report = benchmarkId
    ? await api(base, token, 'GET', `/benchmarks/${benchmarkId}/report?view=technical&format=json`)
    : null;
  printAccuracy(report, bench, log);

  log(`demo: ${at()} 4/5 deploying the selected engine`);
  await step('deploy', async () => {
    const dep = await api(base, token, 'POST', '/deployments', { modelId, engine: 'selected' });
    const deadline = Date.now() + 5 * 60 * 1000;
    for (let x = dep; x.state !== 'ready'; x = await api(base, token, 'GET', `/deployments/${dep.id}`)) {
      if (x.state === 'failed') throw new Error(`deployment failed: ${x.error || ''}`);
      if (Date.now() > deadline) throw new Error(`deployment still ${x.state} after 5 minutes`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  });

  const valDir = path.join(dataset.dir, 'images', 'val');
  // The generator lets shapes overlap and hide each other; the request shows the model on the
  // first held-out image whose shapes are all visible (two or more, boxes apart).
  const separate = (ts) =>
    ts.length >= 2 && ts.every((a, i) => ts.every((b, j) => i === j || intersectionOverUnion(a.box, b.box) === 0));
  const files = fs.readdirSync(valDir).sort();
  const image = path.join(valDir, files.find((f) => separate(labelsOf(dataset.dir, f, d.imgsz, names))) ?? files[0]);
  const truth = labelsOf(dataset.dir, image, d.imgsz, names);
  log(
    `demo: ${at()} 5/5 detection request on the first held-out image (never trained on) whose shapes do not overlap: ` +
      path.relative(dataDir, image),
  );
  for (const t of truth) log(`demo:   labelled  ${t.label.padEnd(18)}        box ${JSON.stringify(t.box)}`);
  const answer = await step('detect', () =>
    // imgsz: the model takes any H/W; it learned at tr.imgsz, and the data plane's default is 640
    api(base, token, 'POST', `/models/${modelId}/infer?imgsz=${tr.imgsz}`, new Uint8Array(fs.readFileSync(image)), {
      'content-type': 'image/png',
    }),
  );
  const dets = answer.detections || [];
  for (const x of dets)
    log(
      `demo:   detected  ${String(x.label ?? x.class_id).padEnd(18)} ${fmt(x.score, 2)}  box ${JSON.stringify(x.box.map((v) => Math.round(v)))}`,
    );
  // each detection may account for one labelled object
  const unused = new Set(dets.keys());
  const found = truth.filter((t) => {
    const k = [...unused].find(
      (n) => dets[n].class_id === t.classId && intersectionOverUnion(dets[n].box, t.box) >= 0.5,
    );
    return k !== undefined && unused.delete(k);
  }).length;
  log(
    `demo:   found ${found} of ${truth.length} labelled objects (same class, IoU >= 0.5); ${dets.length} detection(s); ` +
      `timing_ms=${JSON.stringify(answer.timing_ms || {})}`,
  );

  log(`demo: gateway   ${base}  (OpenAPI UI: ${origin}/api/docs)`);
  if (benchmarkId) {
    log(`demo: report    ${base}/benchmarks/${benchmarkId}/report?view=technical&format=html`);
    log(`demo: simple    ${base}/benchmarks/${benchmarkId}/report?view=simple&format=html`);
  }
  log(
    `demo: curl -s -X POST -H "authorization: Bearer ${token}" -H "content-type: image/png" --data-binary @${image} "${base}/models/${modelId}/infer?imgsz=${tr.imgsz}"`,
  );
  printCvpCommands(log, {
    gatewayUrl: origin,
    adminUsername: admin.username,
    modelId,
    benchmarkId,
    imageFile: image,
    datasetZip: dataset.zip,
    datasetId: dataset.id,
    epochs: tr.epochs,
    imgsz: tr.imgsz,
  });
  log(
    `demo: ${at()} done (${Object.entries(timings)
      .map(([k, v]) => `${k} ${v} s`)
      .join(', ')})`,
  );
  return { modelId, benchmarkId, timings, found, truth: truth.length, detections: dets };
}

/** Baseline and chosen mAP@0.5 from the report, and which candidates the accuracy budget refused. */
function printAccuracy(report, bench, log) {
  if (!report) {
    log(`demo:   no report: ${JSON.stringify(bench)}`);
    return;
  }
  const byId = new Map(report.candidates.map((c) => [c.id, c]));
  const base = byId.get(report.baselineId);
  const map = base?.agreement?.map;
  log(
    `demo:   baseline ${report.baselineId}: p50 ${fmt(base?.latency?.p50Ms, 1)} ms, mAP@0.5 ${fmt(map?.baselineMap50)}` +
      (map
        ? ` on ${map.images} held-out images (${map.boxes} boxes)`
        : ` (${base?.agreement?.mapSkipReason ?? 'not scored'})`),
  );
  for (const dc of report.decision.candidates) {
    const c = byId.get(dc.candidateId);
    const acc = dc.checks.find((k) => k.constraint === 'maxAccuracyDrop');
    log(
      `demo:   ${dc.candidateId === report.decision.chosenId ? '*' : dc.feasible ? ' ' : 'x'} ${dc.candidateId.padEnd(40)} ` +
        `p95 ${fmt(dc.objectiveMs, 1).padStart(7)} ms  mAP@0.5 ${fmt(c?.agreement?.map?.map50)}  ` +
        `drop ${fmt(c?.agreement?.accuracyDrop, 4)}${acc && !acc.passed ? '  refused: accuracy' : ''}`,
    );
  }
  const chosen = byId.get(report.decision.chosenId);
  log(
    `demo:   selected ${report.decision.chosenId ?? 'none'}: mAP@0.5 ${fmt(chosen?.agreement?.map?.map50)} ` +
      `(baseline ${fmt(map?.baselineMap50)}), p50 ${fmt(bench.selectedP50Ms, 1)} ms vs baseline ${fmt(bench.baselineP50Ms, 1)} ms`,
  );
  log(`demo:   ${report.decision.summary}`);
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
