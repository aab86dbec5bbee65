import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { ArtifactTimeoutError, Artifacts, LocalArtifactStore } from '@cvp/artifacts';
import type { BenchJobResult, BenchReport, JobInputs } from '@cvp/contracts';
import { GPU_LEASE_CLIENT, type GpuLeaseClient } from '@cvp/gpu-lease';
import { JobCancelledError, type JobContext, type JobHandler, PermanentJobError, RetryableJobError } from '@cvp/jobs';
import { BENCH_OPTIONS, type BenchOptions } from '../bench-options';
import { acquireHostLock, HostBusyError } from '../protocol/host-lock';
import { runProtocol } from '../protocol/protocol-runner';
import { BenchRegistryClient } from '../registry/bench-registry.client';
import { writeReport } from '../report/report-writer';
import { SERVING_PATH, type ServingPath } from '../serving/serving-path';

/** Benchmark ids derive from the job id, so a redelivered job rewrites the same folder. */
export const benchmarkIdFor = (jobId: string) => `bm-${jobId}`.slice(0, 64);

/**
 * Bench jobs: the 9-step protocol on the model's latest ONNX version, the selection under the
 * job's constraints, and the reports under CVP_DATA_DIR/benchmarks/<id>/. The gateway turns the
 * result into a benchmarks row.
 */
@Injectable()
export class BenchJobHandler implements JobHandler<'bench'> {
  readonly type = 'bench' as const;

  constructor(
    @Inject(BENCH_OPTIONS) private readonly options: BenchOptions,
    private readonly registry: BenchRegistryClient,
    @Optional() @Inject(GPU_LEASE_CLIENT) private readonly leases?: GpuLeaseClient,
    @Optional() @Inject(SERVING_PATH) private readonly servingPath?: ServingPath | null,
    @Optional() artifacts?: Artifacts,
  ) {
    // Without the service's store (handler tests), the data dir itself is the store.
    this.artifacts = artifacts ?? new Artifacts(new LocalArtifactStore(options.dataDir), options.dataDir);
  }

  private readonly artifacts: Artifacts;

  async handle(input: JobInputs['bench'], ctx: JobContext): Promise<BenchJobResult> {
    const model = await this.registry.describeModel(input.modelId);
    const described = input.datasetId ? await this.registry.dataset(input.datasetId) : null;
    // The data set's folder on this host (unpacked from the store when it was uploaded elsewhere).
    const dataset = described && { ...described, path: await this.artifacts.stageTree(described.path) };
    const benchmarkId = benchmarkIdFor(ctx.jobId);
    const outDir = path.join(this.options.dataDir, 'benchmarks', benchmarkId);
    ctx.progress({ progress: 0, stage: 'waiting for the host measurement lock' });
    // The ONNX under test on this host, named like its key (from the store when converted elsewhere).
    const inputDir = path.join(this.options.dataDir, 'benchmarks', '.inputs', benchmarkId);
    let release: () => Promise<void>;
    try {
      release = await acquireHostLock(this.options.lockFile, `bench:${ctx.jobId}`, {
        waitMs: this.options.lockWaitMs,
        signal: ctx.signal,
      });
    } catch (e) {
      if (ctx.signal.aborted) throw new JobCancelledError('cancelled while waiting for the measurement lock');
      if (e instanceof HostBusyError) throw new RetryableJobError(e.message);
      throw e;
    }
    try {
      const modelFile = await this.artifacts.stage(model.onnxPath, inputDir);
      const report = await runProtocol(
        {
          benchmarkId,
          jobId: ctx.jobId,
          model: {
            id: model.id,
            version: model.version,
            name: model.name,
            task: model.task,
            path: modelFile,
            imgsz: model.imgsz,
            trained: model.trained,
          },
          inputShape: input.inputShape,
          datasetDir: dataset?.path ?? null,
          datasetFormat: dataset?.format ?? null,
          constraints: input.constraints,
          whenAccuracyNotAssessable: input.whenAccuracyNotAssessable ?? 'refuse',
          outDir,
        },
        this.options.protocol,
        {
          signal: ctx.signal,
          progress: (progress, stage, detail) => ctx.progress({ progress: Math.min(0.99, progress), stage, detail }),
          withGpuLease: this.leases ? (fn) => this.withLease(ctx, fn) : undefined,
          servingPath:
            this.servingPath && this.artifacts.kind !== 'local'
              ? servingWithRefs(this.servingPath, async (p) =>
                  p === modelFile ? model.onnxPath : this.artifacts.publishFile(p),
                )
              : (this.servingPath ?? undefined),
          servingPathMissing: this.options.servingPathMissing ?? 'no data plane configured for bench',
        },
      );
      if (this.artifacts.kind !== 'local')
        refsInReport(report, (p) => (p === modelFile ? model.onnxPath : this.refOf(p)));
      await writeReport(outDir, report);
      // Report files, decision record and variants, each under its key, for the gateway, packager and data plane.
      const reportDir = await this.artifacts.publishDir(outDir);
      const base = report.candidates.find((c) => c.id === report.baselineId)!;
      const chosen = report.candidates.find((c) => c.id === report.decision.chosenId) ?? null;
      const result: BenchJobResult = {
        benchmarkId,
        modelId: model.id,
        modelVersion: model.version,
        reportDir,
        status: report.decision.status,
        selected: report.decision.chosen,
        selectedId: report.decision.chosenId,
        baselineP50Ms: base.latency.p50Ms,
        selectedP50Ms: chosen?.latency.p50Ms ?? null,
        summary: report.decision.summary,
      };
      return result;
    } catch (e) {
      if (ctx.signal.aborted) {
        await fs.rm(outDir, { recursive: true, force: true });
        throw new JobCancelledError('bench cancelled');
      }
      if (e instanceof RetryableJobError || e instanceof PermanentJobError) throw e;
      // The artifact store did not answer in time (NATS down or partitioned): another delivery may succeed.
      if (e instanceof ArtifactTimeoutError) throw new RetryableJobError(`artifact store: ${e.message}`);
      // The protocol records per-step failures itself; what escapes is the model not running at all.
      await fs.rm(outDir, { recursive: true, force: true });
      throw new PermanentJobError(`benchmark failed: ${(e as Error).message}`);
    } finally {
      await fs.rm(inputDir, { recursive: true, force: true });
      await release();
    }
  }

  /** A file this run wrote under the data dir becomes its key; anything else stays as it is. */
  private refOf(p: string): string {
    try {
      return this.artifacts.refOfFile(p);
    } catch {
      return p;
    }
  }

  private async withLease<T>(ctx: JobContext, fn: () => Promise<T>): Promise<T> {
    const lease = await this.leases!.acquire({
      holder: `bench:${ctx.jobId}`,
      priority: 'bench',
      ttlMs: 60_000,
      waitMs: 600_000,
      signal: ctx.signal,
    });
    try {
      return await fn();
    } finally {
      await lease.release();
    }
  }
}

/** Rewrites the model paths a report records (local files of this host) as references any host can open. */
function refsInReport(report: BenchReport, toRef: (p: string) => string): void {
  report.model.path = toRef(report.model.path);
  for (const c of report.candidates) c.modelPath = toRef(c.modelPath);
  if (report.decision.chosen)
    report.decision.chosen = { ...report.decision.chosen, modelPath: toRef(report.decision.chosen.modelPath) };
}

/**
 * The serving path with each candidate's model file made a reference first (the model under test
 * is its key; a variant is published under its own): the data plane runs on another host and opens
 * keys, never this host's paths.
 */
function servingWithRefs(inner: ServingPath, toRef: (p: string) => Promise<string>): ServingPath {
  return {
    get baseUrl() {
      return inner.baseUrl;
    },
    deploy: async (spec, signal) =>
      inner.deploy({ ...spec, config: { ...spec.config, modelPath: await toRef(spec.config.modelPath) } }, signal),
    remove: (deploymentId, modelName) => inner.remove(deploymentId, modelName),
    cpuProfile: (durationMs, top) => inner.cpuProfile(durationMs, top),
  };
}
