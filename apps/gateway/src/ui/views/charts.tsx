/** Small SVG charts drawn on the server (no script): line charts of series, and a scatter plot. */

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

const W = 640;
const H = 260;
const PAD = { l: 56, r: 16, t: 12, b: 36 };

function extent(values: number[]): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (lo === hi) {
    lo -= Math.abs(lo) * 0.1 || 0.5;
    hi += Math.abs(hi) * 0.1 || 0.5;
  }
  return [lo, hi];
}

const ticks = (lo: number, hi: number, n = 4) => Array.from({ length: n + 1 }, (_, i) => lo + ((hi - lo) * i) / n);
const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

function Axes({ x, y, xLabel, yLabel }: { x: [number, number]; y: [number, number]; xLabel: string; yLabel: string }) {
  const sx = (v: number) => PAD.l + ((v - x[0]) / (x[1] - x[0])) * (W - PAD.l - PAD.r);
  const sy = (v: number) => H - PAD.b - ((v - y[0]) / (y[1] - y[0])) * (H - PAD.t - PAD.b);
  return (
    <g>
      {ticks(y[0], y[1]).map((v) => (
        <g key={`y${v}`}>
          <line class="grid-line" x1={PAD.l} x2={W - PAD.r} y1={sy(v)} y2={sy(v)} />
          <text x={PAD.l - 6} y={sy(v) + 4} text-anchor="end">
            {fmt(v)}
          </text>
        </g>
      ))}
      {ticks(x[0], x[1]).map((v) => (
        <text key={`x${v}`} x={sx(v)} y={H - PAD.b + 16} text-anchor="middle">
          {fmt(v)}
        </text>
      ))}
      <line class="axis" x1={PAD.l} x2={W - PAD.r} y1={H - PAD.b} y2={H - PAD.b} />
      <line class="axis" x1={PAD.l} x2={PAD.l} y1={PAD.t} y2={H - PAD.b} />
      <text x={(PAD.l + W - PAD.r) / 2} y={H - 4} text-anchor="middle">
        {xLabel}
      </text>
      <text
        x={12}
        y={(PAD.t + H - PAD.b) / 2}
        text-anchor="middle"
        transform={`rotate(-90 12 ${(PAD.t + H - PAD.b) / 2})`}
      >
        {yLabel}
      </text>
    </g>
  );
}

/** Lines of up to six series on shared axes, with a legend under the chart. */
export function LineChart({
  id,
  title,
  series,
  xLabel,
  yLabel,
}: {
  id: string;
  title: string;
  series: Series[];
  xLabel: string;
  yLabel: string;
}) {
  const shown = series.filter((s) => s.points.length > 0).slice(0, 6);
  const all = shown.flatMap((s) => s.points);
  if (all.length === 0) return <p class="muted">No data yet for {title.toLowerCase()}.</p>;
  const x = extent(all.map((p) => p.x));
  const y = extent(all.map((p) => p.y));
  const sx = (v: number) => PAD.l + ((v - x[0]) / (x[1] - x[0])) * (W - PAD.l - PAD.r);
  const sy = (v: number) => H - PAD.b - ((v - y[0]) / (y[1] - y[0])) * (H - PAD.t - PAD.b);
  return (
    <figure id={id}>
      <svg class="chart" data-chart={id} viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={`${id}-title`}>
        <title id={`${id}-title`}>{title}</title>
        <Axes x={x} y={y} xLabel={xLabel} yLabel={yLabel} />
        {shown.map((s, i) => (
          <g key={s.name}>
            <polyline
              class={`s${i}`}
              points={s.points.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}
            />
            {s.points.map((p) => (
              <circle key={`${p.x}`} class={`s${i}`} cx={sx(p.x)} cy={sy(p.y)} r={2.5} />
            ))}
          </g>
        ))}
      </svg>
      <ul class="legend">
        {shown.map((s, i) => (
          <li key={s.name}>
            <span class={`swatch s${i}`}></span>
            {s.name}
          </li>
        ))}
      </ul>
    </figure>
  );
}

export interface ScatterPoint {
  x: number;
  y: number;
  label: string;
  front: boolean;
}

/** Trials as points; those on the Pareto front are highlighted and joined in x order. */
export function ScatterChart({
  id,
  title,
  points,
  xLabel,
  yLabel,
}: {
  id: string;
  title: string;
  points: ScatterPoint[];
  xLabel: string;
  yLabel: string;
}) {
  if (points.length === 0) return <p class="muted">No finished trials yet.</p>;
  const x = extent(points.map((p) => p.x));
  const y = extent(points.map((p) => p.y));
  const sx = (v: number) => PAD.l + ((v - x[0]) / (x[1] - x[0])) * (W - PAD.l - PAD.r);
  const sy = (v: number) => H - PAD.b - ((v - y[0]) / (y[1] - y[0])) * (H - PAD.t - PAD.b);
  const front = points.filter((p) => p.front).sort((a, b) => a.x - b.x);
  return (
    <figure id={id}>
      <svg class="chart" data-chart={id} viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={`${id}-title`}>
        <title id={`${id}-title`}>{title}</title>
        <Axes x={x} y={y} xLabel={xLabel} yLabel={yLabel} />
        {front.length > 1 && (
          <polyline class="s1" points={front.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')} />
        )}
        {points.map((p) => (
          <circle key={p.label} class={p.front ? 'front' : 'trial'} cx={sx(p.x)} cy={sy(p.y)} r={p.front ? 5 : 4}>
            <title>{p.label}</title>
          </circle>
        ))}
      </svg>
      <ul class="legend">
        <li>
          <span class="swatch s1"></span>Pareto front
        </li>
        <li>
          <span class="swatch s0"></span>other trials
        </li>
      </ul>
    </figure>
  );
}
