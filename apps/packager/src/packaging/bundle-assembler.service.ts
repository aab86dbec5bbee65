import { existsSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { Injectable, Optional } from '@nestjs/common';
import { Artifacts } from '@cvp/artifacts';
import { DeploymentChangedContract, SCHEMA_VERSION, validate } from '@cvp/contracts';
import { PermanentJobError } from '@cvp/jobs';
import { InjectConfig } from '@cvp/platform';
import type { PackagerConfig } from '../config';
import { collectAppPayload, collectGpuOrtFiles, collectNativeSources } from './app-payload';
import { assertSafeBundlePath, type BundleFile, copiedFile, textFile } from './bundle-file';
import type { PackagePlan } from './package-plan';
import { type BundleSpec, ENTRYPOINT, MODEL_CONFIG, RUN_SCRIPT } from './templates/bundle-spec';
import { composeFile, envExample } from './templates/compose';
import { dockerfile } from './templates/dockerfiles';
import { deploymentGuide } from './templates/guide';
import { entrypointScript, runScript } from './templates/scripts';

/** Report files a benchmark folder may hold; only these travel, and only when present. */
const REPORT_FILES = ['report.json', 'decision.json', 'technical.html', 'simple.html'];

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** A name the data plane accepts (/v2/models/{name}) and Docker accepts as an image name. */
export function servingName(name: string, fallback: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-+$/, '')
    .slice(0, 64);
  return slug || fallback.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-');
}

/**
 * Decides every file of a bundle from a plan: generated files are rendered here, the model,
 * reports, compiled data plane and native sources are referenced by path and read when written.
 */
/** Where fetched inputs go: one numbered sub-folder per input. */
interface Staging {
  dir: string;
  next: number;
}

@Injectable()
export class BundleAssembler {
  constructor(
    @InjectConfig() private readonly config: PackagerConfig,
    @Optional() private readonly artifacts?: Artifacts,
  ) {}

  /** Artifacts come through a store (objectstore): inputs are fetched into a staging folder first. */
  private get remote(): Artifacts | null {
    return this.artifacts && this.artifacts.kind !== 'local' ? this.artifacts : null;
  }

  /**
   * An input of the bundle (a reference from the registry) as a checked file on this host. With a
   * store it is fetched and linked into `staging` (one sub-folder per input, names kept), so it
   * stays until the bundle is written whatever the cache evicts meanwhile.
   */
  private async input(ref: string, what: string, staging: Staging): Promise<string> {
    const remote = this.remote;
    if (!remote) return this.dataFile(ref, what);
    let local: string;
    try {
      local = await remote.stage(ref, path.join(staging.dir, String(staging.next++)));
    } catch (e) {
      throw new PermanentJobError(`${what} not found at ${ref}: ${(e as Error).message}`);
    }
    return this.dataFile(local, what);
  }

  /** Does the reference name an artifact (a file where it is, or a key in the store)? */
  private async exists(ref: string): Promise<boolean> {
    const remote = this.remote;
    if (!remote) return existsSync(ref);
    return !!(await remote.store.stat(remote.keyOf(ref)).catch(() => null));
  }

  /** A data-dir file, resolved through symlinks; nothing outside the data dir goes into a bundle. */
  private async dataFile(p: string, what: string): Promise<string> {
    const root = await realpath(path.resolve(this.config.CVP_DATA_DIR));
    let real: string;
    try {
      real = await realpath(path.resolve(p));
    } catch {
      throw new PermanentJobError(`${what} not found at ${p}`);
    }
    if (real !== root && !real.startsWith(root + path.sep))
      throw new PermanentJobError(`${what} is outside the data dir: ${p}`);
    const st = await stat(real);
    if (!st.isFile()) throw new PermanentJobError(`${what} is not a regular file: ${p}`);
    if (st.size > this.config.CVP_PACKAGER_MAX_MODEL_MB * 1024 * 1024) {
      throw new PermanentJobError(
        `${what} is ${Math.ceil(st.size / 1048576)} MiB, above CVP_PACKAGER_MAX_MODEL_MB=${this.config.CVP_PACKAGER_MAX_MODEL_MB}`,
      );
    }
    return real;
  }

  private async decisionSummary(plan: PackagePlan, reportDir: string | null, staging: Staging): Promise<string> {
    if (!plan.benchmark)
      return `engine ${plan.engineConfig.engine} was named by the user; no benchmark of this model version was available.`;
    const prefix = plan.selected
      ? `selected by benchmark ${plan.benchmark.id}`
      : `named by the user; benchmark ${plan.benchmark.id} is included for reference`;
    const decisionRef = reportDir ? this.childRef(reportDir, 'decision.json') : null;
    if (decisionRef && (await this.exists(decisionRef))) {
      try {
        const decisionPath = await this.input(decisionRef, 'benchmark decision.json', staging);
        const d = JSON.parse(await readFile(decisionPath, 'utf8')) as Record<string, unknown>;
        const why = [d.summary, d.reason, d.verdict].find((v): v is string => typeof v === 'string' && v.length > 0);
        if (why) return `${prefix}: ${why.replace(/\s+/g, ' ').slice(0, 500)} (decision record: reports/decision.json)`;
      } catch {
        /* an unreadable record is still bundled; the summary just points at it */
      }
    }
    return `${prefix} (decision record: reports/).`;
  }

  private childRef(dirRef: string, name: string): string {
    return this.artifacts ? this.artifacts.childRef(dirRef, name) : path.join(dirRef, name);
  }

  /**
   * The bundle's files. `stagingDir` (under the data dir, removed by the caller) receives inputs
   * fetched from the artifact store; unused in local mode.
   */
  async assemble(plan: PackagePlan, stagingDir?: string): Promise<BundleFile[]> {
    const staging: Staging = {
      dir: stagingDir ?? path.join(path.resolve(this.config.CVP_DATA_DIR), 'packages', '.inputs', 'default'),
      next: 0,
    };
    const platformRoot = path.resolve(this.config.CVP_PACKAGER_PLATFORM_ROOT);
    const modelSrc = await this.input(plan.engineConfig.modelPath, 'model file', staging);
    const modelFileName = path.basename(plan.engineConfig.modelPath).replace(/[^A-Za-z0-9._-]/g, '_');
    const modelFile = `model/${modelFileName}`;
    const modelName = servingName(plan.model.name, plan.model.id);
    const rootPkg = JSON.parse(await readFile(path.join(platformRoot, 'package.json'), 'utf8')) as { version?: string };

    const files: BundleFile[] = [copiedFile(modelFile, modelSrc)];

    // Benchmark report and decision record.
    let reportDir: string | null = null;
    if (plan.benchmark) {
      reportDir = plan.benchmark.reportDir;
      for (const name of REPORT_FILES) {
        const p = this.childRef(reportDir, name);
        if (await this.exists(p))
          files.push(copiedFile(`reports/${name}`, await this.input(p, `benchmark ${name}`, staging)));
      }
    }
    const decisionSummary = await this.decisionSummary(plan, reportDir, staging);
    files.push(
      textFile(
        'reports/README.md',
        plan.benchmark
          ? `# Benchmark ${plan.benchmark.id}\n\nModel ${plan.model.id} v${plan.benchmark.modelVersion}, measured ${plan.benchmark.createdAt}.\n${decisionSummary}\n\nreport.json / technical.html: every measurement; simple.html: the plain-language verdict; decision.json: every candidate, constraint and why.\n`
          : `# No benchmark\n\n${decisionSummary}\nRun a bench job on the platform and package again with engine "selected" to ship a measured choice.\n`,
      ),
    );

    const spec: BundleSpec = {
      modelName,
      modelId: plan.model.id,
      modelVersion: plan.version.version,
      task: plan.model.task,
      engine: plan.engineConfig.engine,
      options: plan.engineConfig.options,
      variant: plan.variant,
      modelFile,
      platformVersion: rootPkg.version ?? '0.0.0',
      benchmarkId: plan.benchmark?.id ?? null,
      decisionSummary,
      imageTag: `cvp/${modelName}:v${plan.version.version}`,
    };

    // The deployment the data plane loads at start-up: the same message the gateway sends over
    // NATS, with the model path relative to this file's folder.
    const bundledEngine = { ...plan.engineConfig, modelPath: modelFileName };
    const deployment = validate(DeploymentChangedContract, {
      schemaVersion: SCHEMA_VERSION,
      action: 'deploy',
      deploymentId: `bundle-${plan.model.id}-v${plan.version.version}`.slice(0, 64),
      // The platform's name (the model id), so a client's URLs work on both; the human name as an alias.
      modelName: plan.model.id,
      ...(modelName !== plan.model.id ? { aliases: [modelName] } : {}),
      task: plan.model.task,
      ...(plan.model.labels ? { labels: plan.model.labels } : {}),
      config: bundledEngine,
    });
    files.push(textFile(MODEL_CONFIG, json(deployment)));
    files.push(
      textFile(
        'model/engine.json',
        json({ ...bundledEngine, modelPath: modelFile, benchmarkId: spec.benchmarkId, selected: plan.selected }),
      ),
    );

    files.push(textFile('Dockerfile.cpu', dockerfile(spec, 'cpu')));
    files.push(textFile('Dockerfile.cuda', dockerfile(spec, 'cuda')));
    files.push(textFile('docker-compose.yml', composeFile(spec)));
    files.push(textFile(ENTRYPOINT, entrypointScript(spec), true));
    files.push(textFile(RUN_SCRIPT, runScript(spec), true));
    files.push(textFile('.env.example', envExample(spec)));
    files.push(textFile('DEPLOY.md', deploymentGuide(spec)));
    files.push(
      textFile(
        '.dockerignore',
        '# keep local installs and builds out of the image context\napp/node_modules\nnative/build\nnative/.deps\nvar\n.env\n',
      ),
    );

    files.push(...(await collectAppPayload(platformRoot)).files);
    files.push(...(await collectNativeSources(platformRoot)));
    files.push(...collectGpuOrtFiles(platformRoot));

    const seen = new Set<string>();
    for (const f of files) {
      assertSafeBundlePath(f.path);
      if (seen.has(f.path)) throw new Error(`two bundle files at ${f.path}`);
      seen.add(f.path);
    }
    return files;
  }
}
