import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { Artifacts } from '@cvp/artifacts';
import type { JobInputs, TrainJobResult } from '@cvp/contracts';
import type { GpuLeaseClient } from '@cvp/gpu-lease';
import { type JobContext, type JobHandler, PermanentJobError, RetryableJobError } from '@cvp/jobs';
import { insideOutputs } from '@cvp/sandbox';
import { ModelVersionStore } from '../model-store/model-version-store';
import { epochProgress } from '../python-runner/progress-relay';
import { PythonRunner } from '../python-runner/python-runner.service';
import { RegistryClient } from '@cvp/jobs';
import { TRAINER_BRIDGE_OPTIONS, type TrainerBridgeOptions } from '../trainer-bridge.options';
import { holdLease, TRAINER_LEASE_CLIENT } from './lease-guard';
import { assertTrainableDataset, trainingFiles, stageCheckpoint } from './training-source';

/**
 * train {modelId, datasetId, epochs, imgsz, batch, device, seed}: one Ultralytics training under a
 * GPU lease held for its whole duration; the trained checkpoint and its ONNX become a new version.
 */
@Injectable()
export class TrainJobHandler implements JobHandler<'train'> {
  readonly type = 'train' as const;
  private readonly store: ModelVersionStore;

  constructor(
    private readonly registry: RegistryClient,
    private readonly python: PythonRunner,
    @Inject(TRAINER_LEASE_CLIENT) private readonly leases: GpuLeaseClient,
    @Inject(TRAINER_BRIDGE_OPTIONS) private readonly options: TrainerBridgeOptions,
    @Optional() artifacts?: Artifacts,
  ) {
    this.store = new ModelVersionStore(options.dataDir, artifacts);
  }

  async handle(input: JobInputs['train'], ctx: JobContext): Promise<TrainJobResult> {
    const [model, described] = await Promise.all([
      this.registry.describeModel(input.modelId),
      this.registry.describeDataset(input.datasetId),
    ]);
    const done = await this.store.findCommitted(model.id, ctx.jobId);
    if (done) return done as TrainJobResult;
    assertTrainableDataset(model, described);
    // The data set's folder on this host (unpacked from the store when it was uploaded elsewhere).
    const dataset = { ...described, path: await this.store.artifacts.stageTree(described.path) };
    const scratch = path.join(this.store.jobDir(ctx.jobId), 'train');
    // A redelivered job starts its training over; partial output of the last attempt goes.
    await fs.rm(scratch, { recursive: true, force: true });
    await fs.mkdir(scratch, { recursive: true });
    const modelArg = await stageCheckpoint(
      this.store.artifacts,
      model,
      path.join(this.store.jobDir(ctx.jobId), 'input'),
    );

    ctx.progress({ stage: 'waiting-for-gpu-lease', progress: 0 });
    const held = await holdLease(this.leases, {
      holder: `trainer-bridge:${ctx.jobId}`,
      ttlMs: this.options.leaseTtlMs,
      waitMs: this.options.leaseWaitMs,
      signal: ctx.signal,
    });
    try {
      ctx.progress({
        stage: 'training',
        progress: 0.01,
        detail: { leaseId: held.lease.id, fencingToken: held.lease.fencingToken },
      });
      const args = [
        '--model',
        modelArg,
        '--data',
        dataset.path,
        '--task',
        model.task,
        '--epochs',
        String(input.epochs),
        '--imgsz',
        String(input.imgsz),
        '--batch',
        String(input.batch),
        '--device',
        input.device,
        '--seed',
        String(input.seed),
        '--out',
        scratch,
      ];
      const out = await this.python.run('train', args, {
        signal: held.signal,
        abortReason: held.lostReason,
        timeoutMs: this.options.trainTimeoutMs,
        files: trainingFiles(model, modelArg, dataset, [scratch]),
        onProgress: (line) => {
          if (line.stage === 'epoch') ctx.progress(epochProgress(line));
          else if (line.stage === 'export') ctx.progress({ stage: 'export', progress: 0.92 });
        },
      });
      if (typeof out.onnx !== 'string' || typeof out.checkpoint !== 'string') {
        throw new RetryableJobError('training finished without a checkpoint and an ONNX export');
      }
      // The sandboxed child's result is untrusted: it may name only files it wrote in its scratch folder.
      for (const p of [out.onnx, out.checkpoint])
        if (!(await insideOutputs(p, [scratch])))
          throw new PermanentJobError(`training reported a file outside its output folder: ${p}`);
      // Fencing: results produced under a lease we no longer hold are not committed.
      held.assertHeld();
      const result = await this.commit(model.id, model.latestVersion, out, input, ctx.jobId, held.lease.fencingToken);
      ctx.progress({ stage: 'committed', progress: 1, detail: { version: result.version } });
      return result;
    } finally {
      await held.release();
    }
  }

  private async commit(
    modelId: string,
    latestVersion: number,
    out: Record<string, unknown>,
    input: JobInputs['train'],
    jobId: string,
    fencingToken: number,
  ): Promise<TrainJobResult> {
    const v = await this.store.claim(modelId, latestVersion + 1, jobId);
    try {
      const pt = path.join(v.tmpDir, 'model.pt');
      const onnx = path.join(v.tmpDir, 'model.onnx');
      await fs.copyFile(String(out.checkpoint), pt);
      await fs.copyFile(String(out.onnx), onnx);
      const metrics = (out.metrics ?? {}) as Record<string, number | null>;
      const result: TrainJobResult = {
        modelId,
        version: v.version,
        onnxPath: this.store.finalRef(v, onnx),
        sourcePath: this.store.finalRef(v, pt),
        sourceFormat: 'ultralytics',
        trained: true,
        metrics,
        primaryMetric: String(out.primary_metric ?? ''),
        accuracy: typeof out.accuracy === 'number' ? out.accuracy : null,
        metadata: { ...((out.onnx_metadata ?? {}) as Record<string, unknown>), path: this.store.finalRef(v, onnx) },
        datasetId: input.datasetId,
        epochs: input.epochs,
        imgsz: input.imgsz,
        trainSeconds: typeof out.train_seconds === 'number' ? out.train_seconds : null,
        leaseFencingToken: fencingToken,
      };
      await fs.writeFile(
        path.join(v.tmpDir, 'metrics.json'),
        JSON.stringify({ metrics, hyp: out.hyp ?? {}, input }, null, 2),
      );
      await this.store.commit(v, jobId, result);
      return result;
    } catch (e) {
      await this.store.abandon(v);
      throw e;
    }
  }
}
