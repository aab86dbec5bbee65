import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { EngineId } from '@cvp/contracts';
import { runProcess } from '@cvp/jobs';
import type { MeasurementPlan, OrtMeasureRequest, OrtMeasureResult } from '@cvp/measure';
import type { CandidateConfig } from '../candidate-config';
import type { CandidateMeasurer, InstanceLayout, LayoutMeasurement } from './candidate-measurer';

/** Where a script of the repo lives (repo root, found from the source tree or dist/). */
function repoScript(rel: string): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const p = path.join(dir, rel);
    if (existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  return path.resolve(rel);
}

/** Where scripts/measure-latency.js lives. */
export function measureScript(): string {
  return repoScript('scripts/measure-latency.js');
}

/**
 * onnxruntime-node configurations, each measured by scripts/measure-latency.js in a fresh node
 * process (measureOrt of libs/measure there), bounded by `timeoutMs`.
 */
export class OrtNodeMeasurer implements CandidateMeasurer {
  readonly engine: EngineId = 'ort-node';
  readonly unavailableReason = null;

  constructor(private readonly o: { scratchDir: string; timeoutMs: number }) {}

  measure(config: CandidateConfig, plan: MeasurementPlan, signal?: AbortSignal): Promise<OrtMeasureResult> {
    return measureInChild(
      {
        ...plan,
        modelPath: config.modelPath,
        provider: config.provider,
        graphOptimization: config.graphOptimization,
        threads: config.threads,
        batch: config.batch,
      },
      this.o.scratchDir,
      { timeoutMs: this.o.timeoutMs, signal },
    );
  }

  /**
   * scripts/lib/raw-engine.js in a fresh node process: N sessions, each in its own worker thread
   * running session.run back to back, the same code the load benchmark calls the raw engine.
   */
  async measureLayout(
    config: CandidateConfig,
    layout: InstanceLayout,
    o: { inputShape: number[]; seconds: number; signal?: AbortSignal },
  ): Promise<LayoutMeasurement> {
    if (config.provider !== 'cpu') throw new Error(`instance layouts are measured on the CPU provider only`);
    const req = {
      model: config.modelPath,
      shape: [1, ...o.inputShape.slice(1)],
      instances: layout.instances,
      threads: layout.threads,
      graphOptimization: config.graphOptimization,
      seconds: o.seconds,
    };
    let result: (LayoutMeasurement & { error?: string }) | undefined;
    const r = await runProcess({
      command: process.execPath,
      args: [repoScript('scripts/lib/raw-engine.js'), JSON.stringify(req)],
      timeoutMs: this.o.timeoutMs + o.seconds * 1000,
      signal: o.signal,
      killGraceMs: 2000,
      onJson: (obj) => (result = obj as unknown as LayoutMeasurement & { error?: string }),
    });
    if (r.aborted) throw new Error('measurement cancelled');
    if (r.timedOut) throw new Error(`layout measurement timed out`);
    if (!result || result.error || r.exitCode !== 0)
      throw new Error(
        result?.error ?? `layout measurement exited ${r.exitCode ?? r.signal}: ${r.stderrTail.slice(-600)}`,
      );
    return {
      instances: layout.instances,
      threads: layout.threads,
      throughput: result.throughput,
      p50Ms: result.p50Ms,
      p95Ms: result.p95Ms,
      peakRssMb: result.peakRssMb ?? null,
      runs: result.runs,
    };
  }
}

/** One request file in, one JSON result line out; a child that fails says why on stdout or stderr. */
async function measureInChild(
  req: OrtMeasureRequest,
  scratchDir: string,
  o: { timeoutMs: number; signal?: AbortSignal },
): Promise<OrtMeasureResult> {
  await fs.mkdir(scratchDir, { recursive: true });
  const reqFile = path.join(
    scratchDir,
    `req-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.json`,
  );
  await fs.writeFile(reqFile, JSON.stringify(req));
  let result: OrtMeasureResult | undefined;
  let error: string | undefined;
  try {
    const r = await runProcess({
      command: process.execPath,
      args: [measureScript(), '--request', reqFile],
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      killGraceMs: 2000,
      onJson: (obj) => {
        if (typeof obj.error === 'string') error = obj.error;
        else result = obj as unknown as OrtMeasureResult;
      },
    });
    if (r.aborted) throw new Error('measurement cancelled');
    if (r.timedOut) throw new Error(`measurement timed out after ${o.timeoutMs} ms`);
    if (r.exitCode !== 0 || !result)
      throw new Error(error ?? `measurement process exited ${r.exitCode ?? r.signal}: ${r.stderrTail.slice(-600)}`);
    return result;
  } finally {
    await fs.unlink(reqFile).catch(() => undefined);
  }
}
