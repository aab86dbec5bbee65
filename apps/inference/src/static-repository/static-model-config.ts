import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { ContractViolationError, type DeploymentChanged, DeploymentChangedContract, validate } from '@cvp/contracts';
import { InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import { ModelRepository } from '../repository/model-repository.service';

/**
 * Start-up deployment from a file (packager bundles): CVP_INFER_MODEL_CONFIG names a
 * JSON file holding the same DeploymentChanged message the gateway sends over NATS, with the
 * model path relative to the file's folder. A bundle runs this instead of the NATS listener.
 */
export const STATIC_MODEL_CONFIG_PATH = Symbol('STATIC_MODEL_CONFIG_PATH');
/** Optional override of what happens when the model cannot be served (default: log and exit 1). */
export const STATIC_MODEL_CONFIG_FATAL = Symbol('STATIC_MODEL_CONFIG_FATAL');
const MAX_CONFIG_BYTES = 1024 * 1024;

export class StaticModelConfigError extends Error {
  override name = 'StaticModelConfigError';
}

/** Reads, validates and resolves a static model config; every problem names the file. */
export async function readStaticModelConfig(file: string): Promise<DeploymentChanged> {
  const abs = path.resolve(file);
  let text: string;
  try {
    const st = await stat(abs);
    if (!st.isFile()) throw new StaticModelConfigError(`${abs} is not a file`);
    if (st.size > MAX_CONFIG_BYTES) throw new StaticModelConfigError(`${abs} is larger than ${MAX_CONFIG_BYTES} bytes`);
    text = await readFile(abs, 'utf8');
  } catch (e) {
    if (e instanceof StaticModelConfigError) throw e;
    throw new StaticModelConfigError(`cannot read model config ${abs}: ${(e as Error).message}`);
  }
  let ev: DeploymentChanged;
  try {
    ev = validate(DeploymentChangedContract, JSON.parse(text));
  } catch (e) {
    const why = e instanceof ContractViolationError ? e.issues.join('; ') : (e as Error).message;
    throw new StaticModelConfigError(`model config ${abs} is invalid: ${why}`);
  }
  if (ev.action !== 'deploy' || !ev.config)
    throw new StaticModelConfigError(`model config ${abs} must be a "deploy" with an engine config`);
  const modelPath = path.resolve(path.dirname(abs), ev.config.modelPath);
  return { ...ev, config: { ...ev.config, modelPath } };
}

/**
 * Deploys the configured model at start-up without blocking the HTTP server: /v2/health/ready
 * stays false until it is loaded and warm; a model that cannot load stops the process, so a
 * supervisor (Docker restart policy) sees the failure instead of a live server with no model.
 */
@Injectable()
export class StaticModelConfigLoader implements OnModuleInit {
  constructor(
    private readonly repository: ModelRepository,
    @Inject(STATIC_MODEL_CONFIG_PATH) private readonly file: string,
    @InjectLogger() private readonly log: Logger,
    @Optional() @Inject(STATIC_MODEL_CONFIG_FATAL) private readonly onFatal?: (e: Error) => void,
  ) {}

  private fatal(e: Error): void {
    if (this.onFatal) return this.onFatal(e);
    this.log.fatal({ err: e }, 'static model config failed');
    process.exit(1);
  }

  /**
   * At module init, before any bootstrap hook: the deployment is pending before the repository
   * can be marked restored, so /v2/health/ready never reads true without the model.
   */
  async onModuleInit(): Promise<void> {
    const ev = await readStaticModelConfig(this.file);
    this.log.info(
      { file: this.file, model: ev.modelName, engine: ev.config?.engine },
      'deploying model from static config',
    );
    void (async () => {
      await this.repository.apply(ev);
      const entry = this.repository.get(ev.modelName);
      if (!entry || entry.state !== 'ready')
        return this.fatal(new StaticModelConfigError(`model ${ev.modelName} from ${this.file} did not load`));
      // No state file in standalone mode: this only marks the repository restored, i.e. ready.
      await this.repository.restore();
    })().catch((e: Error) => this.fatal(e));
  }
}
