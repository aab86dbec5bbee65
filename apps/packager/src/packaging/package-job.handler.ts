import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Injectable, Optional } from '@nestjs/common';
import { Artifacts } from '@cvp/artifacts';
import type { JobInputs, PackageJobResult } from '@cvp/contracts';
import { JobCancelledError, type JobContext, type JobHandler, PermanentJobError } from '@cvp/jobs';
import { InjectConfig } from '@cvp/platform';
import type { PackagerConfig } from '../config';
import { PlatformBuildMissingError } from './app-payload';
import { BundleAssembler } from './bundle-assembler.service';
import { planPackage } from './package-plan';
import { PackageWriter } from './package-writer.service';
import { RegistryClient } from '@cvp/jobs';

/**
 * `package` jobs: model facts and the bench choice from the registry -> a bundle folder and a
 * reproducible tarball under packages/<packageId>/. Idempotent: the packageId is a hash of the
 * bundle's content, so a re-delivery rewrites the same package.
 */
@Injectable()
export class PackageJobHandler implements JobHandler<'package'> {
  readonly type = 'package' as const;

  constructor(
    private readonly registry: RegistryClient,
    private readonly assembler: BundleAssembler,
    private readonly writer: PackageWriter,
    @InjectConfig() private readonly config: PackagerConfig,
    @Optional() private readonly artifacts?: Artifacts,
  ) {}

  private checkCancelled(ctx: JobContext) {
    if (ctx.signal.aborted) throw new JobCancelledError(`package job ${ctx.jobId} cancelled`);
  }

  async handle(input: JobInputs['package'], ctx: JobContext): Promise<PackageJobResult> {
    ctx.progress({ progress: 0.05, stage: 'reading model and benchmark' });
    const model = await this.registry.describeModel(input.modelId);
    const benchmark = await this.registry.latestBenchmark(input.modelId);
    const plan = planPackage(input, model, benchmark);
    this.checkCancelled(ctx);

    ctx.progress({
      progress: 0.2,
      stage: 'assembling bundle',
      detail: { engine: plan.engineConfig.engine, variant: plan.variant, modelVersion: plan.version.version },
    });
    // Inputs fetched from the artifact store (objectstore mode) wait here until the bundle is written.
    const staging = path.resolve(this.config.CVP_DATA_DIR, 'packages', '.inputs', ctx.jobId);
    let written;
    try {
      let files;
      try {
        files = await this.assembler.assemble(plan, staging);
      } catch (e) {
        // A platform without a build cannot package anything; retrying would not change that.
        if (e instanceof PlatformBuildMissingError) throw new PermanentJobError(e.message);
        throw e;
      }
      this.checkCancelled(ctx);

      ctx.progress({ progress: 0.5, stage: 'writing bundle and tarball', detail: { files: files.length } });
      try {
        written = await this.writer.write(files, ctx.signal);
      } catch (e) {
        if (ctx.signal.aborted) throw new JobCancelledError(`package job ${ctx.jobId} cancelled`);
        throw e;
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    // The tarball is what the gateway serves: published under its data-dir-relative path (its key).
    await this.artifacts?.publishFile(written.tarballPath);
    ctx.progress({ progress: 1, stage: 'done', detail: { packageId: written.packageId } });
    ctx.logger.info(
      { packageId: written.packageId, sha256: written.sha256, sizeBytes: written.sizeBytes },
      'package written',
    );

    const dataDir = path.resolve(this.config.CVP_DATA_DIR);
    return {
      packageId: written.packageId,
      modelId: plan.model.id,
      modelVersion: plan.version.version,
      engine: plan.engineConfig.engine,
      engineConfig: { ...plan.engineConfig, modelPath: path.basename(plan.engineConfig.modelPath) },
      selected: plan.selected,
      variant: plan.variant,
      benchmarkId: plan.benchmark?.id ?? null,
      // Relative to the data dir, like every path stored by the gateway.
      tarballPath: path.relative(dataDir, written.tarballPath),
      bundlePath: path.relative(dataDir, written.bundleDir),
      sha256: written.sha256,
      sizeBytes: written.sizeBytes,
      fileCount: written.fileCount,
    };
  }
}
