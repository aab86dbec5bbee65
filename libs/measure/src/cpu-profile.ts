import type { CpuProfileSummary, ProfiledFunction } from '@cvp/contracts';
import { round } from './stats';

/** The parts of a V8 CPU profile (inspector's Profiler.stop, `node --cpu-prof`) the summary reads. */
export interface V8CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  /** Microseconds before each sample. */
  timeDeltas?: number[];
}

/**
 * Self time per function of a V8 CPU profile, the largest first: each sample's duration (the gap
 * to the next sample) goes to the function at the top of its stack; functions are keyed by name,
 * script and line, so one function's call sites add up. Shares are of every sample, idle included.
 */
export function summarizeCpuProfile(p: V8CpuProfile, top = 15): CpuProfileSummary {
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const byNode = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const totalUs = Math.max(0, p.endTime - p.startTime);
  const meanUs = samples.length ? totalUs / samples.length : 0;
  const self = new Map<string, { fn: ProfiledFunction; us: number }>();
  let idleUs = 0;
  let sampledUs = 0;
  samples.forEach((id, i) => {
    const us = Math.max(0, deltas[i + 1] ?? meanUs);
    sampledUs += us;
    const f = byNode.get(id);
    if (!f) return;
    const name = f.functionName || '(anonymous)';
    if (name === '(idle)') idleUs += us;
    const line = f.lineNumber + 1;
    const key = `${name}\u0000${f.url}\u0000${line}`;
    const e = self.get(key) ?? { fn: { functionName: name, url: f.url, line, selfMs: 0, selfPct: 0 }, us: 0 };
    e.us += us;
    self.set(key, e);
  });
  const total = sampledUs || 1;
  const ranked = [...self.values()]
    .sort((a, b) => b.us - a.us || (a.fn.functionName < b.fn.functionName ? -1 : 1))
    .slice(0, top)
    .map((e) => ({ ...e.fn, selfMs: round(e.us / 1000, 1), selfPct: round((100 * e.us) / total, 1) }));
  return {
    durationMs: round(totalUs / 1000, 1),
    samples: samples.length,
    idlePct: round((100 * idleUs) / total, 1),
    top: ranked,
  };
}
