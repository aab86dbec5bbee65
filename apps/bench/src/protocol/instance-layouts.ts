import os from 'node:os';
import type { BenchConstraints, InstanceDecision, InstanceLayoutResult } from '@cvp/contracts';
import { configOf } from './candidate-config';
import type { InstanceLayout, LayoutMeasurement } from './measurers/candidate-measurer';
import type { ProtocolContext } from './protocol-context';

/** Layouts within this fraction of the best throughput count as equal; the one with fewer instances wins. */
export const LAYOUT_MARGIN = 0.05;

/**
 * The layouts tried on `cores` cores: one instance using every core, one instance per core, and
 * from 4 cores two instances splitting them (the layouts Triton users try first).
 */
export function layoutsFor(cores: number): InstanceLayout[] {
  const l: InstanceLayout[] = [
    { instances: 1, threads: cores },
    { instances: cores, threads: 1 },
  ];
  if (cores >= 4) l.push({ instances: 2, threads: Math.floor(cores / 2) });
  return l.filter((x, i) => l.findIndex((y) => y.instances === x.instances && y.threads === x.threads) === i);
}

/**
 * Judges measured layouts against the job's limits (a run's p95 under load against maxP95Ms, peak
 * RSS against maxRssMb) and picks the most throughput among the feasible ones; within
 * LAYOUT_MARGIN of it, fewer instances (less memory) win. Null when none is feasible.
 */
export function pickLayout(
  measured: LayoutMeasurement[],
  constraints: BenchConstraints,
): { layouts: InstanceLayoutResult[]; chosen: InstanceLayoutResult | null } {
  const layouts = measured.map((m): InstanceLayoutResult => {
    const failed: string[] = [];
    if (constraints.maxP95Ms !== undefined && m.p95Ms > constraints.maxP95Ms)
      failed.push(`p95 ${m.p95Ms} ms > maxP95Ms ${constraints.maxP95Ms}`);
    if (constraints.maxRssMb !== undefined && m.peakRssMb !== null && m.peakRssMb > constraints.maxRssMb)
      failed.push(`peak RSS ${m.peakRssMb} MB > maxRssMb ${constraints.maxRssMb}`);
    return {
      instances: m.instances,
      threads: m.threads,
      throughput: m.throughput,
      p50Ms: m.p50Ms,
      p95Ms: m.p95Ms,
      peakRssMb: m.peakRssMb,
      feasible: failed.length === 0,
      why: failed.length ? failed.join('; ') : `${m.throughput}/s with every instance busy`,
    };
  });
  const feasible = layouts.filter((l) => l.feasible);
  if (!feasible.length) return { layouts, chosen: null };
  const best = Math.max(...feasible.map((l) => l.throughput));
  const chosen = feasible
    .filter((l) => l.throughput >= best * (1 - LAYOUT_MARGIN))
    .sort((a, b) => a.instances - b.instances || b.throughput - a.throughput)[0];
  return { layouts, chosen };
}

/**
 * After selection: measures the chosen configuration's instance layouts under load (each layout
 * in a fresh process, every instance kept busy) and records the pick in the decision record;
 * the chosen engine options then carry `instances` and `threads`, so a deployment or a bundle of
 * "selected" serves with them. Instances change throughput under load, not one request's latency,
 * which is why they are chosen here rather than compared as candidates. GPU providers and
 * batched configurations keep one instance (said why).
 */
export async function chooseInstances(
  ctx: ProtocolContext,
  o: { seconds: number; cores?: number } = { seconds: 4 },
): Promise<void> {
  const decision = ctx.decision;
  if (!decision?.chosen || !decision.chosenId) return;
  const candidate = ctx.candidates.find((c) => c.id === decision.chosenId);
  if (!candidate) return;
  const config = configOf(candidate);
  const keep = (why: string) => {
    decision.instances = {
      candidateId: candidate.id,
      layouts: [],
      chosen: { instances: config.instances ?? 1, threads: config.threads },
      why,
    } satisfies InstanceDecision;
  };
  if (config.provider !== 'cpu') return keep(`one instance: layouts are measured on the CPU provider only`);
  if (config.batch !== 1) return keep(`one instance: the chosen configuration batches (${config.batch})`);
  const measurer = ctx.measurers[config.engine];
  if (measurer.unavailableReason) return keep(`one instance: ${measurer.unavailableReason}`);
  if (!measurer.measureLayout) return keep(`one instance: the ${config.engine} measurer does not measure layouts`);
  if (o.seconds <= 0) return keep(`one instance: instance layouts disabled (0 s per layout)`);
  const measureLayout = measurer.measureLayout.bind(measurer);

  const measured: LayoutMeasurement[] = [];
  const reasons: string[] = [];
  const tried = layoutsFor(o.cores ?? Math.max(1, os.cpus().length));
  for (const [i, layout] of tried.entries()) {
    ctx.progress(7 / 9 + (i / tried.length) * 0.02, 'instance layouts', { layout });
    try {
      measured.push(
        await measureLayout(config, layout, {
          inputShape: ctx.model.shape,
          seconds: o.seconds,
          signal: ctx.signal,
        }),
      );
    } catch (e) {
      if (ctx.signal?.aborted) throw e;
      reasons.push(`${layout.instances}x${layout.threads}: failed: ${(e as Error).message}`);
    }
  }
  const { layouts, chosen } = pickLayout(measured, ctx.input.constraints);
  const failedNote = reasons.length ? ` (${reasons.join('; ')})` : '';
  if (!chosen) {
    decision.instances = {
      candidateId: candidate.id,
      layouts,
      chosen: { instances: 1, threads: config.threads },
      why: `no layout measured within the limits; one instance${failedNote}`,
    };
    return;
  }
  const best = Math.max(...layouts.filter((l) => l.feasible).map((l) => l.throughput));
  decision.instances = {
    candidateId: candidate.id,
    layouts,
    chosen: { instances: chosen.instances, threads: chosen.threads },
    why:
      `${chosen.instances} instance(s) x ${chosen.threads} thread(s): ${chosen.throughput}/s under load` +
      (chosen.throughput < best ? `, within ${LAYOUT_MARGIN * 100} % of the best ${best}/s with fewer instances` : '') +
      failedNote,
  };
  decision.chosen = {
    ...decision.chosen,
    options: { ...decision.chosen.options, threads: chosen.threads, instances: chosen.instances },
  };
}
