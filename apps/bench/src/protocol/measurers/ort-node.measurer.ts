import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { EngineId } from '@cvp/contracts';
import { runProcess } from '@cvp/jobs';
import type { MeasurementPlan, OrtMeasureRequest, OrtMeasureResult } from '@cvp/measure';
import type { CandidateConfig } from '../candidate-config';
import type { CandidateMeasurer } from './candidate-measurer';

/** Where scripts/measure-latency.js lives (repo root, found from the source tree or dist/). */
export function measureScript(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const p = path.join(dir, 'scripts/measure-latency.js');
    if (existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  return path.resolve('scripts/measure-latency.js');
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
