import type { BenchReport } from '@cvp/contracts';
import { bar, ms } from './format';

export interface ChartRow {
  label: string;
  p95Ms: number;
  feasible: boolean;
  chosen: boolean;
  baseline: boolean;
}

/** The selectable candidates of a report, fastest first, with what the decision said of each. */
export function chartRows(report: BenchReport, max = 12): ChartRow[] {
  const decided = new Map(report.decision.candidates.map((c) => [c.candidateId, c]));
  return report.candidates
    .filter((c) => c.selectable)
    .map((c) => ({
      label: c.id,
      p95Ms: c.latency.p95Ms,
      feasible: decided.get(c.id)?.feasible ?? false,
      chosen: c.id === report.decision.chosenId,
      baseline: c.id === report.baselineId,
    }))
    .sort((a, b) => a.p95Ms - b.p95Ms)
    .filter((r, i) => i < max || r.chosen || r.baseline);
}

/**
 * p95 latency per candidate as horizontal bars, one line each:
 *   "★ ort-node/cpu/int8/all/t2/b1   ████████░░░░  75.1 ms"
 * ★ chosen, B baseline, ✗ fails a constraint. Plain ASCII (#, .) when asked.
 */
export function benchChart(rows: ChartRow[], width: number, ascii = false): string[] {
  if (!rows.length) return ['(no candidates)'];
  const top = Math.max(...rows.map((r) => r.p95Ms));
  const labelW = Math.min(36, Math.max(...rows.map((r) => r.label.length)));
  const barW = Math.max(8, width - labelW - 16);
  return rows.map((r) => {
    const mark = r.chosen ? (ascii ? '*' : '★') : r.baseline ? 'B' : r.feasible ? ' ' : ascii ? 'x' : '✗';
    const label = r.label.length > labelW ? `${r.label.slice(0, labelW - 1)}…` : r.label.padEnd(labelW);
    return `${mark} ${label} ${bar(top > 0 ? r.p95Ms / top : 0, barW, ascii)} ${ms(r.p95Ms).padStart(10)}`;
  });
}
