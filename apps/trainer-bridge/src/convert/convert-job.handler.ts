import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { Artifacts } from '@cvp/artifacts';
import type { ConvertJobResult, JobInputs, ModelFormat, ModelVersionInfo } from '@cvp/contracts';
import { type JobContext, type JobHandler, PermanentJobError } from '@cvp/jobs';
import { ModelVersionStore } from '../model-store/model-version-store';
import { relayConvertProgress } from '../python-runner/progress-relay';
import { PythonRunner } from '../python-runner/python-runner.service';
import { RegistryClient, type ModelDescription } from '@cvp/jobs';
import { insideOutputs } from '@cvp/sandbox';
import { TRAINER_BRIDGE_OPTIONS, type TrainerBridgeOptions } from '../trainer-bridge.options';

/**
 * Sources whose loading can run code: pickles (Ultralytics .pt), TorchScript programs, and
 * SavedModel graphs (their ops can read and write files when the signature runs).
 */
const SOURCES_THAT_RUN_CODE = new Set<ModelFormat>(['ultralytics', 'torchscript', 'tensorflow-savedmodel']);

/**
 * convert {modelId}: a preset model is built from its architecture definition into a new version;
 * an uploaded model's latest version without ONNX gets its ONNX (torch / Ultralytics / tf2onnx in
 * python), validated and compared with the source.
 */
@Injectable()
export class ConvertJobHandler implements JobHandler<'convert'> {
  readonly type = 'convert' as const;
  private readonly store: ModelVersionStore;

  constructor(
    private readonly registry: RegistryClient,
    private readonly python: PythonRunner,
    @Inject(TRAINER_BRIDGE_OPTIONS) private readonly options: TrainerBridgeOptions,
    @Optional() artifacts?: Artifacts,
  ) {
    this.store = new ModelVersionStore(options.dataDir, artifacts);
  }

  private get artifacts(): Artifacts {
    return this.store.artifacts;
  }

  async handle(input: JobInputs['convert'], ctx: JobContext): Promise<ConvertJobResult> {
    const model = await this.registry.describeModel(input.modelId);
    const done = await this.store.findCommitted(model.id, ctx.jobId);
    if (done) {
      ctx.logger.info({ version: done.version }, 'convert already committed by an earlier delivery');
      return done as ConvertJobResult;
    }
    const latest = model.versions.find((v) => v.version === model.latestVersion) ?? model.versions.at(-1);
    if (latest && latest.onnxPath === null && latest.sourcePath) return this.fillVersion(model, latest, ctx);
    if (model.preset) return this.buildPreset(model, ctx);
    if (latest?.sourcePath) return this.newVersionFromSource(model, latest, ctx);
    throw new PermanentJobError(`model ${model.id} has neither a preset nor a stored source to convert`);
  }

  private async buildPreset(model: ModelDescription, ctx: JobContext): Promise<ConvertJobResult> {
    const v = await this.store.claim(model.id, model.latestVersion + 1, ctx.jobId);
    try {
      ctx.progress({ stage: 'preset', progress: 0.05, detail: { preset: model.preset } });
      const out = await this.python.run('preset', ['--name', String(model.preset), '--out', v.tmpDir, '--seed', '0'], {
        signal: ctx.signal,
        timeoutMs: this.options.convertTimeoutMs,
        onProgress: relayConvertProgress(ctx),
      });
      const source = (out.source ?? {}) as { path?: string; format?: string };
      const result = this.resultOf(model, v.version, out, {
        onnxPath: this.store.finalRef(v, String(out.onnx)),
        sourcePath: source.path ? this.store.finalRef(v, source.path) : null,
        sourceFormat: (source.format ?? 'onnx') as ModelFormat,
        trained: false,
        filledExistingVersion: false,
      });
      result.metadata = { ...result.metadata, path: result.onnxPath };
      await this.store.commit(v, ctx.jobId, result);
      ctx.progress({ stage: 'committed', progress: 1, detail: { version: v.version } });
      return result;
    } catch (e) {
      await this.store.abandon(v);
      throw e;
    }
  }

  /** Upload path: the latest version holds the source; put model.onnx beside it. */
  private async fillVersion(
    model: ModelDescription,
    ver: ModelVersionInfo,
    ctx: JobContext,
  ): Promise<ConvertJobResult> {
    const versionDir = path.join(this.store.modelDir(model.id), `v${ver.version}`);
    await fs.mkdir(versionDir, { recursive: true });
    const tmp = await fs.mkdtemp(path.join(this.store.modelDir(model.id), `.tmp-${ctx.jobId}-`));
    // The uploaded source, on this host: fetched from the store when it was uploaded elsewhere.
    const staged =
      this.artifacts.kind === 'local'
        ? null
        : await fs.mkdtemp(path.join(this.store.modelDir(model.id), `.in-${ctx.jobId}-`));
    try {
      const source = staged ? await this.artifacts.stage(String(ver.sourcePath), staged) : String(ver.sourcePath);
      const out = await this.runConvert(model, { ...ver, sourcePath: source }, tmp, ctx, [source]);
      // Move every produced file (model.onnx and any external-data files) into the version folder.
      const moved: string[] = [];
      for (const name of await fs.readdir(tmp)) {
        await fs.rename(path.join(tmp, name), path.join(versionDir, name));
        moved.push(name);
      }
      // Published file by file, once each is in place; the ONNX last, so its key means "converted".
      for (const name of moved.filter((n) => n !== path.basename(String(out.onnx))))
        await this.artifacts.publishFile(path.join(versionDir, name));
      const onnxPath = await this.artifacts.publishFile(path.join(versionDir, path.basename(String(out.onnx))));
      const result = this.resultOf(model, ver.version, out, {
        onnxPath,
        sourcePath: ver.sourcePath,
        sourceFormat: ver.sourceFormat,
        trained: ver.trained,
        filledExistingVersion: true,
      });
      result.metadata = { ...result.metadata, path: onnxPath };
      await fs.writeFile(
        path.join(versionDir, '.cvp-job.json'),
        JSON.stringify({ jobId: ctx.jobId, result, files: moved }, null, 2),
      );
      ctx.progress({ stage: 'committed', progress: 1, detail: { version: ver.version } });
      return result;
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
      if (staged) await fs.rm(staged, { recursive: true, force: true });
    }
  }

  /** Re-conversion of a version that already has ONNX: a new version with a copy of the source. */
  private async newVersionFromSource(
    model: ModelDescription,
    ver: ModelVersionInfo,
    ctx: JobContext,
  ): Promise<ConvertJobResult> {
    const v = await this.store.claim(model.id, model.latestVersion + 1, ctx.jobId);
    try {
      const srcCopy = path.join(v.tmpDir, `source${path.extname(String(ver.sourcePath))}`);
      await this.artifacts.withFile(String(ver.sourcePath), (src) => fs.copyFile(src, srcCopy));
      const out = await this.runConvert(model, { ...ver, sourcePath: srcCopy }, v.tmpDir, ctx, []);
      const result = this.resultOf(model, v.version, out, {
        onnxPath: this.store.finalRef(v, String(out.onnx)),
        sourcePath: this.store.finalRef(v, srcCopy),
        sourceFormat: ver.sourceFormat,
        trained: ver.trained,
        filledExistingVersion: false,
      });
      result.metadata = { ...result.metadata, path: result.onnxPath };
      await this.store.commit(v, ctx.jobId, result);
      ctx.progress({ stage: 'committed', progress: 1, detail: { version: v.version } });
      return result;
    } catch (e) {
      await this.store.abandon(v);
      throw e;
    }
  }

  /**
   * `cvp_ml convert` in the sandbox: the source read-only (`inputs`; a copy already inside outDir
   * needs none), outDir writable. The ONNX it reports must lie in outDir: a child's result is untrusted.
   */
  private async runConvert(
    model: ModelDescription,
    ver: ModelVersionInfo,
    outDir: string,
    ctx: JobContext,
    inputs: string[],
  ): Promise<Record<string, unknown>> {
    const args = [
      '--format',
      ver.sourceFormat,
      '--input',
      String(ver.sourcePath),
      '--out',
      outDir,
      '--task',
      model.task,
    ];
    const shape = (ver.metadata as { inputShape?: unknown } | null)?.inputShape;
    if (Array.isArray(shape) && shape.length === 4 && shape.every((d) => Number.isInteger(d) && d > 0)) {
      args.push('--input-shape', shape.join(','));
    }
    ctx.progress({ stage: 'convert', progress: 0.05, detail: { format: ver.sourceFormat } });
    const out = await this.python.run('convert', args, {
      signal: ctx.signal,
      timeoutMs: this.options.convertTimeoutMs,
      onProgress: relayConvertProgress(ctx),
      files: { inputs, outputs: [outDir], mayRunCode: SOURCES_THAT_RUN_CODE.has(ver.sourceFormat) },
    });
    if (typeof out.onnx !== 'string' || !(await insideOutputs(out.onnx, [outDir])))
      throw new PermanentJobError(
        `cvp_ml convert reported an ONNX path outside its output folder: ${String(out.onnx)}`,
      );
    return out;
  }

  private resultOf(
    model: ModelDescription,
    version: number,
    out: Record<string, unknown>,
    fields: Pick<ConvertJobResult, 'onnxPath' | 'sourcePath' | 'sourceFormat' | 'trained' | 'filledExistingVersion'>,
  ): ConvertJobResult {
    const comparison = (out.comparison ?? null) as Record<string, unknown> | null;
    const maxAbs = comparison && typeof comparison.max_abs_diff === 'number' ? comparison.max_abs_diff : null;
    return {
      modelId: model.id,
      version,
      ...fields,
      metadata: (out.metadata ?? {}) as Record<string, unknown>,
      maxAbsDiff: maxAbs,
      comparison,
      validation: (out.validation ?? {}) as Record<string, unknown>,
      preset: model.preset ?? null,
      ...(typeof out.note === 'string' ? { note: out.note } : {}),
    };
  }
}
