/**
 * Inline SVG charts for the reports: no scripts, no fonts or files fetched, so the HTML works
 * offline and under a strict Content-Security-Policy. Every label goes through esc().
 */
export function esc(s: string | number): string {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];
const LABEL_W = 300;
const PLOT_W = 520;
const ROW_H = 22;
const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));

function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function axis(x0: number, y: number, max: number, unit: string): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const x = x0 + f * PLOT_W;
    return `<line x1="${x}" y1="${y}" x2="${x}" y2="${y + 4}" stroke="#888"/><text x="${x}" y="${y + 16}" font-size="10" text-anchor="middle">${esc(fmt(f * max))}</text>`;
  });
  return `<line x1="${x0}" y1="${y}" x2="${x0 + PLOT_W}" y2="${y}" stroke="#888"/>${ticks.join('')}<text x="${x0 + PLOT_W}" y="${y + 30}" font-size="10" text-anchor="end">${esc(unit)}</text>`;
}

function legend(names: string[], x: number, y: number): string {
  return names
    .map(
      (n, i) =>
        `<rect x="${x + i * 110}" y="${y}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/><text x="${x + i * 110 + 14}" y="${y + 9}" font-size="11">${esc(n)}</text>`,
    )
    .join('');
}

export interface BarRow {
  label: string;
  values: number[];
  highlight?: boolean;
}

/** Horizontal bars, grouped (one bar per series) or stacked. */
export function barChart(
  id: string,
  title: string,
  series: string[],
  rows: BarRow[],
  o: { unit: string; stacked?: boolean },
): string {
  const per = o.stacked ? 1 : series.length;
  const rowH = ROW_H * per + 6;
  const max = niceMax(
    Math.max(0, ...rows.map((r) => (o.stacked ? r.values.reduce((a, b) => a + b, 0) : Math.max(...r.values)))),
  );
  const top = 40;
  const h = top + rows.length * rowH + 40;
  const bars = rows.map((r, i) => {
    const y = top + i * rowH;
    let acc = 0;
    const rects = r.values.map((v, k) => {
      const w = (Math.max(0, v) / max) * PLOT_W;
      const x = LABEL_W + (o.stacked ? (acc / max) * PLOT_W : 0);
      const by = o.stacked ? y : y + k * ROW_H;
      acc += Math.max(0, v);
      return (
        `<rect x="${x}" y="${by + 2}" width="${w}" height="${ROW_H - 4}" fill="${PALETTE[k % PALETTE.length]}"><title>${esc(`${r.label} ${series[k]}: ${fmt(v)} ${o.unit}`)}</title></rect>` +
        (o.stacked ? '' : `<text x="${x + w + 4}" y="${by + ROW_H - 7}" font-size="10">${esc(fmt(v))}</text>`)
      );
    });
    const total = o.stacked
      ? `<text x="${LABEL_W + (acc / max) * PLOT_W + 4}" y="${y + ROW_H - 7}" font-size="10">${esc(fmt(acc))}</text>`
      : '';
    return `<text x="${LABEL_W - 6}" y="${y + ROW_H - 7}" font-size="11" text-anchor="end"${r.highlight ? ' font-weight="bold"' : ''}>${esc(r.label)}</text>${rects.join('')}${total}`;
  });
  return svg(
    id,
    title,
    h,
    `${legend(series, LABEL_W, 18)}${bars.join('')}${axis(LABEL_W, top + rows.length * rowH + 2, max, o.unit)}`,
  );
}

export interface DistRow {
  label: string;
  samples: number[];
  p50: number;
  p95: number;
  highlight?: boolean;
}

/** Latency distribution: every sample as a dot, the p50..p95 box and the median line. */
export function distributionChart(id: string, title: string, rows: DistRow[], unit: string): string {
  const max = niceMax(Math.max(1, ...rows.flatMap((r) => [...r.samples, r.p95])));
  const top = 20;
  const rowH = ROW_H + 8;
  const h = top + rows.length * rowH + 40;
  const sx = (v: number) => LABEL_W + (v / max) * PLOT_W;
  const body = rows.map((r, i) => {
    const y = top + i * rowH;
    const dots = r.samples
      .slice(0, 300)
      .map(
        (v, k) =>
          `<circle cx="${sx(v).toFixed(1)}" cy="${(y + 4 + ((k * 7) % (ROW_H - 8))).toFixed(1)}" r="1.6" fill="${PALETTE[0]}" fill-opacity="0.45"/>`,
      );
    return (
      `<text x="${LABEL_W - 6}" y="${y + ROW_H - 7}" font-size="11" text-anchor="end"${r.highlight ? ' font-weight="bold"' : ''}>${esc(r.label)}</text>` +
      `<rect x="${sx(r.p50)}" y="${y + 1}" width="${Math.max(1, sx(r.p95) - sx(r.p50))}" height="${ROW_H - 2}" fill="#f59e0b" fill-opacity="0.25" stroke="#d97706"><title>${esc(`${r.label}: p50 ${fmt(r.p50)} / p95 ${fmt(r.p95)} ${unit}`)}</title></rect>` +
      `<line x1="${sx(r.p50)}" y1="${y}" x2="${sx(r.p50)}" y2="${y + ROW_H}" stroke="#b91c1c" stroke-width="2"/>` +
      dots.join('')
    );
  });
  return svg(id, title, h, `${body.join('')}${axis(LABEL_W, top + rows.length * rowH + 2, max, unit)}`);
}

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
}

/** Lines over a categorical-looking numeric x axis (concurrency levels). */
export function lineChart(
  id: string,
  title: string,
  series: LineSeries[],
  o: { xLabel: string; yLabel: string },
): string {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const maxY = niceMax(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.y))));
  const left = 70;
  const w = 700;
  const top = 40;
  const ph = 220;
  const sx = (x: number) => left + (xs.length <= 1 ? w / 2 : (xs.indexOf(x) / (xs.length - 1)) * w);
  const sy = (y: number) => top + ph - (y / maxY) * ph;
  const grid = [0, 0.5, 1].map(
    (f) =>
      `<line x1="${left}" y1="${sy(f * maxY)}" x2="${left + w}" y2="${sy(f * maxY)}" stroke="#ddd"/><text x="${left - 6}" y="${sy(f * maxY) + 4}" font-size="10" text-anchor="end">${esc(fmt(f * maxY))}</text>`,
  );
  const xt = xs.map(
    (x) => `<text x="${sx(x)}" y="${top + ph + 16}" font-size="10" text-anchor="middle">${esc(x)}</text>`,
  );
  const lines = series.map((s, i) => {
    const c = PALETTE[i % PALETTE.length];
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    return `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>${pts.map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${c}"><title>${esc(`${s.name} @${p.x}: ${fmt(p.y)}`)}</title></circle>`).join('')}`;
  });
  const h = top + ph + 60;
  return svg(
    id,
    title,
    h,
    `${legend(
      series.map((s) => s.name.slice(0, 16)),
      left,
      14,
    )}${grid.join('')}${xt.join('')}${lines.join('')}<text x="${left + w / 2}" y="${top + ph + 34}" font-size="11" text-anchor="middle">${esc(o.xLabel)}</text><text x="14" y="${top + ph / 2}" font-size="11" transform="rotate(-90 14 ${top + ph / 2})" text-anchor="middle">${esc(o.yLabel)}</text>`,
  );
}

function svg(id: string, title: string, h: number, body: string): string {
  return `<figure><figcaption>${esc(title)}</figcaption><svg class="chart" data-chart="${esc(id)}" xmlns="http://www.w3.org/2000/svg" width="${LABEL_W + PLOT_W + 60}" height="${h}" viewBox="0 0 ${LABEL_W + PLOT_W + 60} ${h}" role="img" aria-label="${esc(title)}" font-family="sans-serif">${body}</svg></figure>`;
}
