import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { Artifacts } from '@cvp/artifacts';
import type { JobInputs, TuneJobResult } from '@cvp/contracts';
import { type JobContext, type JobHandler, PermanentJobError } from '@cvp/jobs';
import { insideOutputs } from '@cvp/sandbox';
import { ModelVersionStore } from '../model-store/model-version-store';
import type { PyProgressLine } from '../python-runner/python-wire';
import { PythonRunner, type UserFiles } from '../python-runner/python-runner.service';
import { RegistryClient } from '@cvp/jobs';
import { assertTrainableDataset, trainingFiles, stageCheckpoint } from '../train/training-source';
import { TRAINER_BRIDGE_OPTIONS, type TrainerBridgeOptions } from '../trainer-bridge.options';
import { type ParetoPoint, renderTuneReportHtml, type TrialRecord, type TuneReport } from './tune-report';
import type { LeaseRecord } from './trial-runner';

/** POSIX shell quoting: the coordinator splits CVP_TRIAL_WRAPPER with shlex. */
export const shellQuote = (s: string) => (/^[A-Za-z0-9_\-./:=@%+,]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * tune {modelId, datasetId, strategy, trials, epochs, imgsz, device, seed, space?}: runs the python
 * coordinator (one process owns the Optuna study) with the study under jobs/<jobId>/study, so a
 * redelivered job resumes and skips finished trials. Trials run in parallel up to the GPU tokens;
 * each one holds its own lease through the trial wrapper. The best trial's model becomes a version.
 */
@Injectable()
export class TuneJobHandler implements JobHandler<'tune'> {
  readonly type = 'tune' as const;
  private readonly store: ModelVersionStore;

  constructor(
    private readonly registry: RegistryClient,
    private readonly python: PythonRunner,
    @Inject(TRAINER_BRIDGE_OPTIONS) private readonly options: TrainerBridgeOptions,
    @Optional() artifacts?: Artifacts,
  ) {
    this.store = new ModelVersionStore(options.dataDir, artifacts);
  }

  async handle(input: JobInputs['tune'], ctx: JobContext): Promise<TuneJobResult> {
    const [model, described] = await Promise.all([
      this.registry.describeModel(input.modelId),
      this.registry.describeDataset(input.datasetId),
    ]);
    const done = await this.store.findCommitted(model.id, ctx.jobId);
    if (done) return done as TuneJobResult;
    assertTrainableDataset(model, described);
    // The data set's folder on this host (unpacked from the store when it was uploaded elsewhere).
    const dataset = { ...described, path: await this.store.artifacts.stageTree(described.path) };
    const jobDir = this.store.jobDir(ctx.jobId);
    const modelArg = await stageCheckpoint(this.store.artifacts, model, path.join(jobDir, 'input'));
    const studyPath = path.join(jobDir, 'study', 'study.db');
    const trialsDir = path.join(jobDir, 'trials');
    await fs.mkdir(path.dirname(studyPath), { recursive: true });

    const parallel = Math.max(1, Math.min(this.options.gpuTokens, input.trials));
    const args = [
      '--coordinator',
      '--study',
      studyPath,
      '--strategy',
      input.strategy,
      '--trials',
      String(input.trials),
      '--parallel',
      String(parallel),
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
      '--device',
      input.device,
      '--seed',
      String(input.seed),
      '--out',
      trialsDir,
    ];
    if (input.space) args.push('--space', JSON.stringify(input.space));
    if (input.strategy === 'nsga2' && existsSync(this.options.latencyScript)) {
      args.push('--latency-cmd', latencyCommand(this.options, input.imgsz).map(shellQuote).join(' '));
    }
    const env: Record<string, string> = {
      CVP_NATS_URL: this.options.natsUrl,
      CVP_GPU_NODE: this.options.gpuNode,
      CVP_LEASE_TTL_MS: String(this.options.leaseTtlMs),
      CVP_LEASE_WAIT_MS: String(this.options.leaseWaitMs),
      CVP_KILL_GRACE_MS: String(this.options.python.killGraceMs),
    };
    // Every trial acquires its own GPU lease through the wrapper (an empty command = no wrapper,
    // for tests of the coordinator path alone; --parallel still bounds the trials).
    if (this.options.trialWrapperCommand.length) {
      env.CVP_TRIAL_WRAPPER = [...this.options.trialWrapperCommand, '--holder', `trainer-bridge:${ctx.jobId}`, '--']
        .map(shellQuote)
        .join(' ');
    }
    const sandboxPrefix = await this.trialSandbox(trainingFiles(model, modelArg, dataset, []), jobDir);
    if (sandboxPrefix.length) env.CVP_TRIAL_SANDBOX = sandboxPrefix.map(shellQuote).join(' ');
    let finished = 0;
    ctx.progress({
      stage: 'tuning',
      progress: 0,
      detail: { strategy: input.strategy, trials: input.trials, parallel },
    });
    const out = await this.python.run('tune', args, {
      signal: ctx.signal,
      timeoutMs: this.options.tuneTimeoutMs,
      env,
      onProgress: (line) => {
        if (line.stage === 'tune_start') finished = Number(line.finished_before) || 0;
        if (line.stage === 'trial') finished++;
        ctx.progress(tuneProgress(line, finished, input.trials));
      },
    });

    const trials = (out.trials ?? []) as TrialRecord[];
    const best = (out.best ?? null) as TuneReport['best'];
    const report: TuneReport = {
      jobId: ctx.jobId,
      modelId: model.id,
      datasetId: dataset.id,
      strategy: input.strategy,
      objectives: (out.objectives ?? ['accuracy']) as string[],
      trialsRequested: input.trials,
      completed: Number(out.completed ?? 0),
      failed: Number(out.failed ?? 0),
      finishedBeforeStart: Number(out.finished_before_start ?? 0),
      parallel,
      best,
      ...(out.pareto_front !== undefined ? { paretoFront: out.pareto_front as ParetoPoint[] } : {}),
      trials,
      registered: null,
      generatedAt: new Date().toISOString(),
    };
    const reportPath = path.join(jobDir, 'tune-report.json');
    const reportHtmlPath = path.join(jobDir, 'tune-report.html');
    if (!best) {
      await this.writeReport(report, reportPath, reportHtmlPath);
      const firstError = trials.find((t) => t.error)?.error;
      throw new PermanentJobError(
        `no trial completed (${trials.length} ran)${firstError ? `: ${firstError}` : ''}; report at ${reportHtmlPath}`,
      );
    }
    const bestRecord = trials.find((t) => t.number === best.number);
    const checkpoint = typeof bestRecord?.checkpoint === 'string' ? bestRecord.checkpoint : undefined;
    if (!checkpoint) throw new PermanentJobError(`best trial ${best.number} left no checkpoint`);
    // Trials ran sandboxed: what they report is untrusted and may name only their own output.
    if (!(await insideOutputs(checkpoint, [trialsDir])))
      throw new PermanentJobError(`best trial ${best.number} reported a checkpoint outside the trials folder`);

    ctx.progress({ stage: 'registering-best', progress: 0.95, detail: { trial: best.number } });
    const v = await this.store.claim(model.id, model.latestVersion + 1, ctx.jobId);
    try {
      const pt = path.join(v.tmpDir, 'model.pt');
      await fs.copyFile(checkpoint, pt);
      const conv = await this.python.run(
        'convert',
        [
          '--format',
          'ultralytics',
          '--input',
          pt,
          '--out',
          v.tmpDir,
          '--input-shape',
          `1,3,${input.imgsz},${input.imgsz}`,
          '--task',
          model.task,
        ],
        {
          signal: ctx.signal,
          timeoutMs: this.options.convertTimeoutMs,
          files: { inputs: [], outputs: [v.tmpDir], mayRunCode: true },
        },
      );
      if (typeof conv.onnx !== 'string' || !(await insideOutputs(conv.onnx, [v.tmpDir])))
        throw new PermanentJobError(
          `cvp_ml convert reported an ONNX path outside its output folder: ${String(conv.onnx)}`,
        );
      const onnxPath = this.store.finalRef(v, String(conv.onnx));
      report.registered = { modelId: model.id, version: v.version, onnxPath };
      await this.writeReport(report, reportPath, reportHtmlPath);
      const result: TuneJobResult = {
        strategy: input.strategy,
        trials: trials.map(compactTrial),
        completed: report.completed,
        failed: report.failed,
        best,
        ...(report.paretoFront ? { paretoFront: report.paretoFront } : {}),
        modelId: model.id,
        version: v.version,
        onnxPath,
        sourcePath: this.store.finalRef(v, pt),
        sourceFormat: 'ultralytics',
        trained: true,
        metrics: (bestRecord?.metrics ?? {}) as Record<string, unknown>,
        metadata: { ...((conv.metadata ?? {}) as Record<string, unknown>), path: onnxPath },
        reportPath: await this.store.artifacts.publishFile(reportPath),
        reportHtmlPath: await this.store.artifacts.publishFile(reportHtmlPath),
        studyPath: await this.store.artifacts.publishFile(studyPath),
        ...(await bestTrialLease(trialsDir, checkpoint)),
      };
      await this.store.commit(v, ctx.jobId, result);
      ctx.progress({ stage: 'committed', progress: 1, detail: { version: v.version } });
      return result;
    } catch (e) {
      await this.store.abandon(v);
      throw e;
    }
  }

  /**
   * The command prefix that puts every trial in the sandbox (`{trial_dir}` becomes the trial's own
   * folder, its only writable one), written as a spec file in the job's folder, which trials do not
   * see. Empty when no sandbox can be built and the trials open no file that runs code; a job whose
   * trials would unpickle the user's checkpoint is refused then.
   */
  private async trialSandbox(files: UserFiles, jobDir: string): Promise<string[]> {
    const availability = await this.python.sandboxAvailability();
    if (!availability.available) {
      if (files.mayRunCode)
        throw new PermanentJobError(
          `tuning refused: its trials would open the model's checkpoint (a pickle, which can run code) and no sandbox is available on this worker (${availability.reason})`,
        );
      return [];
    }
    const spec = await this.python.sandboxSpec(files, { timeoutMs: this.options.tuneTimeoutMs });
    const specFile = path.join(jobDir, 'trial-sandbox.json');
    await fs.writeFile(`${specFile}.tmp`, JSON.stringify(spec, null, 2));
    await fs.rename(`${specFile}.tmp`, specFile);
    return [...this.options.sandboxExecCommand, '--spec', specFile, '--output', '{trial_dir}', '--'];
  }

  private async writeReport(report: TuneReport, jsonPath: string, htmlPath: string): Promise<void> {
    for (const [file, body] of [
      [jsonPath, JSON.stringify(report, null, 2)],
      [htmlPath, renderTuneReportHtml(report)],
    ] as const) {
      const tmp = `${file}.tmp`;
      await fs.writeFile(tmp, body);
      await fs.rename(tmp, file);
    }
  }
}

/**
 * nsga2's latency objective: bench's measurement code (libs/measure through
 * scripts/measure-latency.js), not a copy of it. `{onnx}` is replaced by the trial's model.
 */
export function latencyCommand(options: Pick<TrainerBridgeOptions, 'node' | 'latencyScript'>, imgsz: number): string[] {
  return [
    options.node,
    options.latencyScript,
    '{onnx}',
    '--input-shape',
    `1,3,${imgsz},${imgsz}`,
    '--iterations',
    '20',
    '--threads',
    '1',
  ];
}

/**
 * The fencing token the best trial trained under, from the lease record its wrapper wrote in the
 * trial's folder (after the trial exited, so the trial cannot have written it), for the gateway to
 * check when it records the version. None when trials ran without a lease.
 */
async function bestTrialLease(trialsDir: string, checkpoint: string): Promise<{ leaseFencingToken?: number }> {
  const trialDir = path.join(trialsDir, path.relative(trialsDir, checkpoint).split(path.sep)[0]);
  const record = await fs
    .readFile(path.join(trialDir, 'lease.json'), 'utf8')
    .then((s) => JSON.parse(s) as Partial<LeaseRecord>)
    .catch(() => undefined);
  const token = record?.fencingToken;
  return Number.isInteger(token) && token! >= 1 ? { leaseFencingToken: token! } : {};
}

/** What the job result keeps per trial (the full record stays in the report). */
function compactTrial(t: TrialRecord): TrialRecord {
  const keep = [
    'number',
    'status',
    'params',
    'accuracy',
    'latency_ms',
    'duration_s',
    'started_at',
    'finished_at',
    'error',
    'error_code',
    'retry_of',
  ];
  return Object.fromEntries(Object.entries(t).filter(([k]) => keep.includes(k))) as TrialRecord;
}

export function tuneProgress(line: PyProgressLine, finished: number, trials: number) {
  const { type: _t, ts: _ts, stage, ...detail } = line;
  return {
    stage,
    progress: Math.min(0.95, (finished / Math.max(1, trials)) * 0.95),
    detail: { ...detail, finished, trials },
  };
}
