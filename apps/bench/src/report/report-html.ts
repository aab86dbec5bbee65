import type { BenchCandidate, BenchReport } from '@cvp/contracts';
import { barChart, distributionChart, esc, lineChart } from './svg-charts';

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#111;max-width:1100px}h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f3f4f6}
.pass{color:#15803d}.fail{color:#b91c1c;font-weight:bold}.skipped{color:#92400e}.done{color:#15803d}.failed{color:#b91c1c}.chosen{background:#ecfdf5}
figure{margin:10px 0}figcaption{font-weight:600;font-size:13px;margin-bottom:4px}.verdict{font-size:18px;padding:12px;border-left:4px solid #2563eb;background:#eff6ff}
.muted{color:#555;font-size:12px}ul{margin:4px 0}`;

const n = (x: number | null | undefined, d = 2) =>
  x === null || x === undefined ? '–' : Number.isInteger(x) ? String(x) : x.toFixed(d);
const label = (c: BenchCandidate) => c.id;
const signed = (x: number, d = 3) => `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(d)}`;

/** "0.512 (−0.004)" for a detector scored on the labelled set; the reason in a tooltip otherwise. */
function mapCell(c: BenchCandidate): string {
  const a = c.agreement;
  if (!a) return '–';
  if (a.map && a.mapChange !== null) return `${n(a.map.map50, 3)} <span class="muted">(${signed(a.mapChange)})</span>`;
  return a.mapSkipReason ? `<span class="muted" title="${esc(a.mapSkipReason)}">n/a</span>` : '–';
}

/** The accuracy drop as the constraint judged it: a number with its bound, or "not assessable" with the reason. */
function dropCell(c: BenchCandidate): string {
  const a = c.agreement;
  if (!a) return '–';
  if (a.accuracyDrop === null || a.assessable === false)
    return `<span class="fail" title="${esc(a.notAssessableReason ?? '')}">not assessable</span>`;
  const basis = a.accuracyBasis ? ` <span class="muted">${a.accuracyBasis}</span>` : '';
  const bound =
    a.bound && a.bound.dropUpper !== null
      ? ` <span class="muted" title="${esc(a.bound.note)}">≤ ${n(a.bound.dropUpper, 4)} (95 %)</span>`
      : '';
  return `${n(a.accuracyDrop, 6)}${basis}${bound}${a.measuredOn ? ` <span class="muted">(on ${esc(a.measuredOn)})</span>` : ''}`;
}

/** How accuracy drop was judged: by mAP on labelled images, or by how far the outputs moved; and whether it could be. */
function accuracyNote(r: BenchReport): string {
  const base = r.candidates.find((c) => c.id === r.baselineId)?.agreement;
  const other = r.candidates.find((c) => c.id !== r.baselineId && c.agreement?.assessable === false)?.agreement;
  const inputs = r.settings.agreementInputs ? ` Agreement inputs: ${esc(r.settings.agreementInputs)}.` : '';
  const notAssessable = other
    ? ` <span class="fail">Accuracy not assessable:</span> ${esc(other.notAssessableReason ?? '')}; policy: ${esc(r.decision.accuracyPolicy?.whenNotAssessable ?? 'refuse')}.`
    : '';
  return `${accuracyBasisNote(r, base)}${inputs}${notAssessable}`;
}

function accuracyBasisNote(r: BenchReport, base: BenchCandidate['agreement'] | undefined): string {
  if (base?.map) {
    const m = base.map;
    return `Accuracy: detectors scored on ${m.images} labelled image(s) (${m.boxes} boxes, split ${esc(m.split)}) of the attached data set; baseline mAP@0.5 ${n(m.baselineMap50, 3)}, mAP@0.5:0.95 ${n(m.baselineMap50_95, 3)}. Accuracy drop = max(0, baseline mAP@0.5 − candidate mAP@0.5); the mAP column shows each candidate's mAP@0.5 and its change.`;
  }
  const why = base?.mapSkipReason;
  return `Accuracy drop = ${r.model.task === 'classify' ? '1 − top-1 agreement with the baseline' : '1 − lowest cosine similarity of the outputs to the baseline'}.${why ? ` mAP change not measured: ${esc(why)}.` : ''}`;
}

interface StageDetails {
  candidate: string;
  pipeline: string;
  images: number;
  stages: { stage: string; what: string; meanMs: number; p95Ms: number; pct: number }[];
}
interface ProfileDetails {
  candidate: string;
  users?: number;
  durationMs?: number;
  idlePct?: number;
  top?: { functionName: string; url: string; line: number; selfMs: number; selfPct: number }[];
  error?: string;
}

/** Step 6's stage split and served split, and step 8's CPU profile of the serving process. */
function servingSection(r: BenchReport): string {
  const s6 = r.steps.find((s) => s.step === 6)?.details ?? {};
  const s8 = r.steps.find((s) => s.step === 8)?.details ?? {};
  const parts: string[] = [];
  const stages = s6.stages as StageDetails | undefined;
  if (stages?.stages)
    parts.push(
      `<p class="muted">Per stage, ${esc(stages.pipeline)}, on ${esc(String(s6.images ?? `${stages.images} images`))}, with ${esc(stages.candidate)}'s model file.</p><table><tr><th>stage</th><th>what</th><th>mean ms</th><th>p95 ms</th><th>share</th></tr>${stages.stages
        .map(
          (x) =>
            `<tr><td>${esc(x.stage)}</td><td>${esc(x.what)}</td><td>${n(x.meanMs, 3)}</td><td>${n(x.p95Ms, 3)}</td><td>${n(x.pct, 1)} %</td></tr>`,
        )
        .join('')}</table>`,
    );
  const served = s6.served as
    | Record<
        string,
        { queueMs: number; preMs: number; inferMs: number; postMs: number; roundTripMs: number; requests: number }
      >
    | undefined;
  if (served && Object.keys(served).length)
    parts.push(
      `<p class="muted">As the data plane reports each answer (timing_ms), one request per image on a scratch deployment.</p><table><tr><th>candidate</th><th>requests</th><th>queue ms</th><th>pre ms</th><th>infer ms</th><th>post ms</th><th>round trip ms</th></tr>${Object.entries(
        served,
      )
        .map(
          ([id, x]) =>
            `<tr><td>${esc(id)}</td><td>${x.requests}</td><td>${n(x.queueMs, 3)}</td><td>${n(x.preMs, 3)}</td><td>${n(x.inferMs, 3)}</td><td>${n(x.postMs, 3)}</td><td>${n(x.roundTripMs, 3)}</td></tr>`,
        )
        .join('')}</table>`,
    );
  const prof = s8.cpuProfile as ProfileDetails | undefined;
  if (prof?.top)
    parts.push(
      `<p class="muted">CPU profile of the serving process while ${esc(prof.candidate)} served ${prof.users ?? '?'} users for ${n((prof.durationMs ?? 0) / 1000, 1)} s: main thread idle ${n(prof.idlePct, 1)} % (ONNX Runtime in worker threads, libvips and the native core count as idle there).</p><table><tr><th>function</th><th>where</th><th>self ms</th><th>share</th></tr>${prof.top
        .map(
          (f) =>
            `<tr><td>${esc(f.functionName)}</td><td class="muted">${esc(f.url ? `${f.url.split('/').slice(-3).join('/')}:${f.line}` : '')}</td><td>${n(f.selfMs, 1)}</td><td>${n(f.selfPct, 1)} %</td></tr>`,
        )
        .join('')}</table>`,
    );
  else if (prof?.error) parts.push(`<p class="muted">CPU profile: ${esc(prof.error)}</p>`);
  return parts.length ? `<h2>Where serving time goes</h2>${parts.join('\n')}` : '';
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

/** Technical report: every step, every measurement, the decision record, charts as inline SVG. */
export function technicalHtml(r: BenchReport): string {
  const chosenId = r.decision.chosenId;
  const b1 = r.candidates.filter((c) => c.selectable);
  const charts = [
    distributionChart(
      'latency-distribution',
      'Latency distribution per engine (batch 1): dots = iterations, box = p50..p95, red line = median',
      b1.map((c) => ({
        label: label(c),
        samples: c.latency.samplesMs,
        p50: c.latency.p50Ms,
        p95: c.latency.p95Ms,
        highlight: c.id === chosenId,
      })),
      'ms',
    ),
    barChart(
      'latency-bars',
      'p50 and p95 latency per engine (batch 1)',
      ['p50', 'p95'],
      b1.map((c) => ({ label: label(c), values: [c.latency.p50Ms, c.latency.p95Ms], highlight: c.id === chosenId })),
      { unit: 'ms' },
    ),
  ];
  const engines = [...new Set(r.concurrency.map((p) => p.engine))];
  if (engines.length) {
    charts.push(
      lineChart(
        'throughput-concurrency',
        'Throughput against concurrency (serving path)',
        engines.map((e) => ({
          name: e,
          points: r.concurrency.filter((p) => p.engine === e).map((p) => ({ x: p.concurrency, y: p.throughputRps })),
        })),
        { xLabel: 'concurrent callers', yLabel: 'requests / s' },
      ),
    );
  }
  const split = r.candidates.filter((c) => c.timeSplit);
  if (split.length) {
    charts.push(
      barChart(
        'time-split',
        'Time split per request: pre-processing / inference / post-processing',
        ['pre', 'infer', 'post'],
        split.map((c) => ({
          label: label(c),
          values: [c.timeSplit!.preMs, c.timeSplit!.inferMs, c.timeSplit!.postMs],
          highlight: c.id === chosenId,
        })),
        { unit: 'ms', stacked: true },
      ),
    );
  }
  const mem = r.candidates.filter((c) => c.peakRssMb !== null);
  if (mem.length)
    charts.push(
      barChart(
        'memory',
        'Peak resident memory per engine (process high-water mark)',
        ['peak RSS'],
        mem.map((c) => ({ label: label(c), values: [c.peakRssMb!], highlight: c.id === chosenId })),
        { unit: 'MB' },
      ),
    );
  const batches = r.candidates.filter(
    (c) =>
      c.step === 5 ||
      (c.batch === 1 &&
        r.candidates.some(
          (x) =>
            x.step === 5 &&
            x.engine === c.engine &&
            x.modelPath === c.modelPath &&
            x.options.graphOptimization === c.options.graphOptimization &&
            x.options.threads === c.options.threads,
        )),
  );
  if (batches.length > 1)
    charts.push(
      barChart(
        'batch-throughput',
        'Throughput by batch size (one caller)',
        ['images / s'],
        batches.map((c) => ({ label: label(c), values: [c.throughput] })),
        { unit: 'img/s' },
      ),
    );

  const steps = r.steps
    .map(
      (s) =>
        `<tr><td>${s.step}</td><td>${esc(s.name)}</td><td class="${s.status}">${s.status}</td><td>${(s.durationMs / 1000).toFixed(1)} s</td><td>${s.candidateIds.length}</td><td>${s.reasons.length ? `<ul>${s.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : ''}</td></tr>`,
    )
    .join('');
  const cands = r.candidates
    .map(
      (c) =>
        `<tr class="${c.id === chosenId ? 'chosen' : ''}"><td>${esc(c.id)}</td><td>${c.step}</td><td>${n(c.latency.p50Ms)}</td><td>${n(c.latency.p95Ms)}</td><td>${n(c.latency.p99Ms)}</td><td>${n(c.latency.meanMs)}</td><td>${n(c.latency.stdMs)}</td><td>${n(c.latency.cv, 3)}${c.latency.unstable ? ' <span class="fail">unstable</span>' : ''}</td><td>${c.latency.iterations}×${c.latency.attempts}</td><td>${n(c.throughput)}</td><td>${n(c.buildMs, 0)}</td><td>${n(c.firstInferenceMs, 1)}</td><td>${n(c.peakRssMb, 0)}</td><td>${c.agreement ? `${n(c.agreement.cosine, 6)} / ${c.agreement.maxAbsDiff.toExponential(2)}` : '–'}</td><td>${dropCell(c)}</td><td>${mapCell(c)}</td><td>${c.peakVramMb !== null ? n(c.peakVramMb, 0) : c.options.provider === 'cpu' ? '–' : `<span class="muted" title="${esc(c.vramReason ?? '')}">n/a</span>`}</td></tr>`,
    )
    .join('');
  const decision = r.decision.candidates
    .map(
      (d) =>
        `<tr class="${d.candidateId === chosenId ? 'chosen' : ''}"><td>${esc(d.candidateId)}</td><td class="${d.feasible ? 'pass' : 'fail'}">${d.feasible ? 'feasible' : 'infeasible'}</td><td>${d.rank ?? '–'}</td><td>${n(d.objectiveMs)}</td>${d.checks.map((k) => `<td class="${k.passed ? 'pass' : 'fail'}">${k.passed ? 'pass' : 'FAIL'}<br><span class="muted">${esc(k.why)}</span></td>`).join('')}<td>${esc(d.why)}</td></tr>`,
    )
    .join('');
  const env = r.environment;
  const conc = r.concurrency
    .map(
      (p) =>
        `<tr><td>${esc(p.engine)}</td><td>${p.concurrency}</td><td>${p.requests}</td><td>${n(p.answered)}</td><td class="${p.rejected ? 'fail' : ''}">${n(p.rejected)}</td><td class="${p.deadlineExpired ? 'fail' : ''}">${n(p.deadlineExpired)}</td><td class="${p.errors ? 'fail' : ''}">${p.errors}</td><td>${n(p.unanswered)}</td><td>${n(p.throughputRps)}</td><td>${n(p.p50Ms)}</td><td>${n(p.p95Ms)}</td><td>${n(p.p99Ms)}</td></tr>`,
    )
    .join('');
  const stab = r.stability
    .map(
      (x) =>
        `<tr><td>${esc(x.engine)}</td><td>${x.users}</td><td>${(x.durationMs / 1000).toFixed(1)} s</td><td>${x.requests}</td><td>${n(x.answered)}</td><td class="${x.rejected ? 'fail' : ''}">${n(x.rejected)}</td><td class="${x.deadlineExpired ? 'fail' : ''}">${n(x.deadlineExpired)}</td><td class="${x.errors ? 'fail' : 'pass'}">${x.errors}</td><td>${n(x.unanswered)}</td><td>${n(x.p95Ms)}</td><td class="${x.passed ? 'pass' : 'fail'}">${x.passed ? 'passed' : 'FAILED'}</td></tr>`,
    )
    .join('');
  const body = `<h1>Benchmark ${esc(r.id)}: ${esc(r.model.name)} v${r.model.version}</h1>
<p class="verdict">${esc(r.simple.headline)}</p>
<p>${esc(r.decision.summary)}</p>
<p class="muted">Model ${esc(r.model.id)} (${esc(r.model.task ?? 'unknown task')}), input ${esc(r.model.inputName)} [${r.model.inputShape.join(', ')}]${r.model.dynamicBatch ? ', dynamic batch axis' : ''}. Started ${esc(r.createdAt)}, took ${(r.durationMs / 1000).toFixed(1)} s. Inputs: ${esc(r.settings.inputSource)}.</p>
<h2>Charts</h2>${charts.join('\n')}
<h2>Protocol steps</h2><table><tr><th>#</th><th>step</th><th>status</th><th>time</th><th>candidates</th><th>notes / skip reasons</th></tr>${steps}</table>
<h2>Decision record</h2><p>Objective: ${esc(r.decision.objective)}; noise margin ${n(r.decision.noiseMarginMs, 3)} ms (from the measured spread of the fastest feasible candidate); tie-break: ${esc(r.decision.tieBreak.join(' → '))}. Constraints given: <code>${esc(JSON.stringify(r.decision.constraints))}</code>, applied: <code>${esc(JSON.stringify(r.decision.effectiveConstraints))}</code>.${r.decision.closest ? ` Closest candidate: ${esc(r.decision.closest.candidateId)} (fails ${esc(r.decision.closest.failed.join(', '))}).` : ''}</p>
<table><tr><th>candidate</th><th>verdict</th><th>rank</th><th>p95 ms</th><th>maxP95Ms</th><th>maxRssMb</th><th>maxVramMb</th><th>maxAccuracyDrop</th><th>minThroughput</th><th>why</th></tr>${decision}</table>
<h2>Measurements</h2><p class="muted">${accuracyNote(r)}</p><table><tr><th>candidate</th><th>step</th><th>p50</th><th>p95</th><th>p99</th><th>mean</th><th>std</th><th>CV</th><th>iter×attempts</th><th>img/s</th><th>build ms</th><th>first inf. ms</th><th>peak RSS MB</th><th>cosine / max abs diff</th><th>accuracy drop</th><th>mAP@0.5 (Δ)</th><th>peak VRAM MB</th></tr>${cands}</table>
${servingSection(r)}
<h2>Concurrency sweep</h2><p class="muted">Served by: ${esc(r.settings.servingPath ?? 'an engine process')}. 429 = refused (queue full); deadline = 429 after waiting past the request deadline.</p><table><tr><th>engine</th><th>callers</th><th>sent</th><th>answered</th><th>429</th><th>deadline</th><th>errors</th><th>unanswered</th><th>req/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>${conc}</table>
<h2>Stability</h2><table><tr><th>engine</th><th>users</th><th>duration</th><th>sent</th><th>answered</th><th>429</th><th>deadline</th><th>errors</th><th>unanswered</th><th>p95 ms</th><th>result</th></tr>${stab}</table>
<h2>Environment</h2><table>${Object.entries(env)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(Array.isArray(v) ? v.join(', ') : String(v ?? '–'))}</td></tr>`)
    .join('')}</table>
<h2>Settings</h2><table>${Object.entries(r.settings)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(Array.isArray(v) ? v.join(', ') : String(v))}</td></tr>`)
    .join('')}</table>`;
  return page(`Benchmark ${r.id} — technical report`, body);
}

/** Simple report: the verdict in plain language, one chart, the caveats. */
export function simpleHtml(r: BenchReport): string {
  const s = r.simple;
  const chosen = r.candidates.find((c) => c.id === r.decision.chosenId);
  const base = r.candidates.find((c) => c.id === r.baselineId)!;
  const chart = chosen
    ? barChart(
        'simple-speed',
        'Median time per image',
        ['median ms'],
        [
          { label: 'before (unoptimized)', values: [base.latency.p50Ms] },
          { label: 'after (chosen engine)', values: [chosen.latency.p50Ms], highlight: true },
        ],
        { unit: 'ms' },
      )
    : '';
  const body = `<h1>${esc(r.model.name)}: which engine to use</h1>
<p class="verdict">${esc(s.headline)}</p>
${chart}
<h2>Accuracy</h2><p>${esc(s.accuracyImpact)}</p>
<h2>Recommendation</h2><p>${esc(s.recommendation)}</p>
<h2>Caveats</h2>${s.caveats.length ? `<ul>${s.caveats.map((c) => `<li>${esc(c)}</li>`).join('')}</ul>` : '<p>None.</p>'}
<p class="muted">Benchmark ${esc(r.id)}, ${esc(r.createdAt)}, on ${esc(r.environment.cpuModel)} (${r.environment.cores} cores). The technical report lists every measurement and the full decision record.</p>`;
  return page(`Benchmark ${r.id} — summary`, body);
}
