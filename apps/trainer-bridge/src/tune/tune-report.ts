/**
 * The tune report: JSON (everything the coordinator returned) and a self-contained HTML page
 * with the best configuration, the trial history, an accuracy-by-trial chart and, for nsga2,
 * the Pareto front (accuracy against latency) as inline SVG.
 */
import type { ParetoPoint, TuneBest, TuneTrial } from '@cvp/contracts';

/** A trial as the coordinator records it (the report keeps every field; the job result a compact copy). */
export type TrialRecord = TuneTrial;
export type { ParetoPoint };

export interface TuneReport {
  jobId: string;
  modelId: string;
  datasetId: string;
  strategy: string;
  objectives: string[];
  trialsRequested: number;
  completed: number;
  failed: number;
  finishedBeforeStart: number;
  parallel: number;
  best: TuneBest | null;
  paretoFront?: ParetoPoint[];
  trials: TrialRecord[];
  registered?: { modelId: string; version: number; onnxPath: string } | null;
  generatedAt: string;
}

const esc = (v: unknown) =>
  String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
const fmt = (v: unknown, digits = 4) =>
  typeof v === 'number' && Number.isFinite(v) ? Number(v.toPrecision(digits)).toString() : v == null ? '–' : esc(v);

interface Pt {
  x: number;
  y: number;
  label: string;
  front?: boolean;
}

/** A scatter chart with axes; points on the front are joined by a line. Pure SVG, no scripts. */
export function scatterSvg(points: Pt[], xLabel: string, yLabel: string, title: string): string {
  const W = 560;
  const H = 340;
  const m = { l: 64, r: 20, t: 32, b: 48 };
  if (!points.length)
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="60" role="img" aria-label="${esc(title)}"><text x="10" y="30">no completed trials to plot</text></svg>`;
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const pad = (lo: number, hi: number) =>
    hi - lo > 0 ? [lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05] : [lo - 0.5 || -0.5, hi + 0.5 || 0.5];
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const ticks = (lo: number, hi: number) => [0, 0.25, 0.5, 0.75, 1].map((f) => lo + (hi - lo) * f);
  const front = points.filter((p) => p.front).sort((a, b) => a.x - b.x);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`,
    ...ticks(x0, x1).map(
      (t) => `<text x="${sx(t)}" y="${H - m.b + 16}" font-size="10" text-anchor="middle">${fmt(t, 3)}</text>`,
    ),
    ...ticks(y0, y1).map(
      (t) => `<text x="${m.l - 6}" y="${sy(t) + 3}" font-size="10" text-anchor="end">${fmt(t, 3)}</text>`,
    ),
    `<text x="${W / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
    `<text x="14" y="${H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${H / 2})">${esc(yLabel)}</text>`,
  ];
  if (front.length > 1)
    parts.push(
      `<polyline class="front" fill="none" stroke="#d62728" stroke-width="1.5" points="${front.map((p) => `${sx(p.x)},${sy(p.y)}`).join(' ')}"/>`,
    );
  for (const p of points) {
    parts.push(
      `<circle class="${p.front ? 'pareto' : 'trial'}" cx="${sx(p.x)}" cy="${sy(p.y)}" r="${p.front ? 5 : 3.5}" fill="${p.front ? '#d62728' : '#1f77b4'}"><title>${esc(p.label)}</title></circle>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export function renderTuneReportHtml(r: TuneReport): string {
  const complete = r.trials.filter((t) => t.status === 'complete' && typeof t.accuracy === 'number');
  const history = scatterSvg(
    complete.map((t) => ({
      x: t.number,
      y: t.accuracy as number,
      label: `trial ${t.number}: accuracy ${fmt(t.accuracy)}`,
      front: t.number === r.best?.number,
    })),
    'trial number',
    'accuracy',
    'Accuracy by trial',
  );
  const frontNums = new Set((r.paretoFront ?? []).map((p) => p.number));
  const pareto =
    r.paretoFront !== undefined
      ? scatterSvg(
          complete
            .filter((t) => typeof t.latency_ms === 'number')
            .map((t) => ({
              x: t.latency_ms as number,
              y: t.accuracy as number,
              label: `trial ${t.number}: ${fmt(t.latency_ms)} ms, accuracy ${fmt(t.accuracy)}`,
              front: frontNums.has(t.number),
            })),
          'latency p50 (ms)',
          'accuracy',
          'Pareto front: accuracy against latency',
        )
      : '';
  const paramNames = [...new Set(r.trials.flatMap((t) => Object.keys(t.params ?? {})))].sort();
  const rows = r.trials
    .map(
      (t) =>
        `<tr class="${esc(t.status)}"><td>${t.number}${frontNums.has(t.number) ? ' ★' : ''}</td><td>${esc(t.status)}</td><td>${fmt(t.accuracy)}</td>` +
        `${r.paretoFront !== undefined ? `<td>${fmt(t.latency_ms)}</td>` : ''}<td>${fmt(t.duration_s, 3)}</td><td>${esc(t.started_at)}</td>` +
        paramNames.map((p) => `<td>${fmt(t.params?.[p], 3)}</td>`).join('') +
        `<td>${esc(t.error ?? '')}</td></tr>`,
    )
    .join('\n');
  const best = r.best
    ? `<table class="kv">${Object.entries({
        trial: r.best.number,
        accuracy: r.best.accuracy,
        ...(r.best.latency_ms !== undefined ? { 'latency p50 (ms)': r.best.latency_ms } : {}),
        ...r.best.params,
      })
        .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${fmt(v, 6)}</td></tr>`)
        .join('')}</table>`
    : '<p>No trial completed.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tune report ${esc(r.jobId)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3}.kv th{text-align:left}tr.failed,tr.interrupted{color:#a00}section{margin-bottom:2em}</style></head>
<body>
<h1>Tune report</h1>
<p>Job <code>${esc(r.jobId)}</code> · model <code>${esc(r.modelId)}</code> · data set <code>${esc(r.datasetId)}</code> · strategy <b>${esc(r.strategy)}</b>
 · objectives ${esc(r.objectives.join(', '))} · ${r.completed}/${r.trialsRequested} trials complete, ${r.failed} failed, ${r.parallel} in parallel
${r.finishedBeforeStart ? ` · resumed: ${r.finishedBeforeStart} trials were already finished` : ''}</p>
<section><h2>Best configuration</h2>${best}
${r.registered ? `<p>Registered as model <code>${esc(r.registered.modelId)}</code> version <b>${r.registered.version}</b>.</p>` : ''}</section>
${pareto ? `<section><h2>Pareto front</h2>${pareto}<p>★ marks trials on the front (no other trial is both more accurate and faster).</p></section>` : ''}
<section><h2>History</h2>${history}</section>
<section><h2>Trials</h2><table><thead><tr><th>#</th><th>status</th><th>accuracy</th>${r.paretoFront !== undefined ? '<th>latency ms</th>' : ''}<th>duration s</th><th>started</th>${paramNames.map((p) => `<th>${esc(p)}</th>`).join('')}<th>error</th></tr></thead>
<tbody>
${rows}
</tbody></table></section>
<p><small>Generated ${esc(r.generatedAt)}</small></p>
</body></html>
`;
}
