/**
 * Job handlers for tests of the job pipeline (not used by any service). Behaviour is chosen by the
 * convert input's modelId prefix; every success is a well-formed convert result whose metadata says
 * what the fixture did:
 *   ok-*      reports progress, succeeds with metadata {attempt}
 *   slow-*    runs `sleep` children for ~3 s, reporting progress, then succeeds (metadata {attempt, pid})
 *   hold-*    runs a `sleep 600` child in its own process group until cancelled; writes its pid
 *             to $CVP_TEST_DIR/<jobId>.pid; holds a GPU lease when a lease client is provided
 *   poison-*  always throws (retryable) -> dead letter after max deliveries
 *   bad-*     throws PermanentJobError
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Inject, Injectable, Optional } from '@nestjs/common';
import type { ConvertJobResult, JobInputs } from '@cvp/contracts';
import { type JobContext, type JobHandler, JobCancelledError, PermanentJobError } from '../job-handler';
import { runProcess } from '../run-process';

export const FIXTURE_LEASES = Symbol('FIXTURE_LEASES');
/** Minimal view of a lease client, so this fixture does not depend on libs/gpu-lease. */
export interface FixtureLeaseClient {
  acquire(o: {
    holder: string;
    priority: 'train';
    ttlMs: number;
    waitMs: number;
    signal?: AbortSignal;
  }): Promise<{ release(): Promise<void>; id: string }>;
}

/** A convert result of the contract's shape for a model that does not exist on disk. */
export function fixtureConvertResult(modelId: string, metadata: Record<string, unknown>): ConvertJobResult {
  return {
    modelId,
    version: 1,
    onnxPath: `/nonexistent/fixture/${modelId}/model.onnx`,
    sourcePath: null,
    sourceFormat: 'onnx',
    metadata,
    maxAbsDiff: null,
    comparison: null,
    validation: {},
    trained: false,
    preset: null,
    filledExistingVersion: false,
  };
}

@Injectable()
export class FixtureConvertHandler implements JobHandler<'convert'> {
  readonly type = 'convert' as const;
  static runs: string[] = [];

  constructor(@Optional() @Inject(FIXTURE_LEASES) private readonly leases?: FixtureLeaseClient) {}

  async handle(input: JobInputs['convert'], ctx: JobContext) {
    FixtureConvertHandler.runs.push(ctx.jobId);
    const m = input.modelId;
    if (m.startsWith('poison-')) throw new Error(`poison pill ${m} (attempt ${ctx.attempt})`);
    if (m.startsWith('bad-')) throw new PermanentJobError(`unsupported model ${m}`);
    if (m.startsWith('ok-')) {
      ctx.progress({ progress: 0.5, stage: 'halfway' });
      return fixtureConvertResult(m, { attempt: ctx.attempt });
    }
    if (m.startsWith('slow-')) {
      for (let i = 1; i <= 6; i++) {
        const r = await runProcess({ command: 'sleep', args: ['0.5'], timeoutMs: 5000, signal: ctx.signal });
        if (r.aborted) throw new JobCancelledError('cancelled');
        ctx.progress({ progress: i / 6, stage: `step ${i}` });
      }
      return fixtureConvertResult(m, { attempt: ctx.attempt, pid: process.pid });
    }
    if (m.startsWith('hold-')) {
      const lease = this.leases
        ? await this.leases.acquire({
            holder: `fixture:${ctx.jobId}`,
            priority: 'train',
            ttlMs: 3000,
            waitMs: 10_000,
            signal: ctx.signal,
          })
        : undefined;
      try {
        const r = await runProcess({
          command: 'sh',
          args: ['-c', `echo '{"type":"progress","pid":'$$'}'; exec sleep 600`],
          timeoutMs: 600_000,
          signal: ctx.signal,
          killGraceMs: 1000,
          onJson: (o) => {
            if (typeof o.pid === 'number' && process.env.CVP_TEST_DIR)
              writeFileSync(path.join(process.env.CVP_TEST_DIR, `${ctx.jobId}.pid`), String(o.pid));
            ctx.progress({ progress: 0.1, stage: 'child running', detail: { pid: o.pid, leaseId: lease?.id } });
          },
        });
        if (r.aborted) throw new JobCancelledError('cancelled');
        return fixtureConvertResult(m, { exit: r.exitCode });
      } finally {
        await lease?.release();
      }
    }
    throw new PermanentJobError(`fixture does not know ${m}`);
  }
}
