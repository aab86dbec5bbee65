import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown, Optional } from '@nestjs/common';
import type { DeploymentChanged, DeploymentStatus, EngineConfig, ModelTask } from '@cvp/contracts';
import { type ArtifactLease, Artifacts } from '@cvp/artifacts';
import { GPU_LEASE_CLIENT, type GpuLeaseClient, type Lease } from '@cvp/gpu-lease';
import type { Logger } from 'pino';
import type { Engine, LoadedModel } from '../engines/engine';
import { nvidiaGpuPresent } from './gpu-probe';
import { type ModelFacts, modelFacts, readOnnxMetadata } from './onnx-metadata';

export const ENGINES = Symbol('ENGINES');
export const REPOSITORY_OPTIONS = Symbol('REPOSITORY_OPTIONS');
export const REPOSITORY_LOGGER = Symbol('REPOSITORY_LOGGER');

export interface RepositoryOptions {
  /** Where the deployed set is kept so a restart reloads it; undefined = memory only. */
  stateFile?: string;
  loadTimeoutMs: number;
  /** Probe for a GPU; injectable so tests can state what they simulate. */
  gpuPresent?: () => boolean;
}

export type ModelState = 'loading' | 'ready';

/** A model being served (or loading) under a name. */
export class ModelEntry {
  state: ModelState = 'loading';
  model?: LoadedModel;
  leases: Lease[] = [];
  /** The model file in this host's artifact cache, pinned while the model is loaded. */
  artifact?: ArtifactLease;
  inFlight = 0;
  /** What the model file says about itself (input size, class names). */
  facts: ModelFacts = {};
  private drained?: () => void;

  constructor(
    readonly deploymentId: string,
    readonly name: string,
    readonly config: EngineConfig,
    readonly task: ModelTask | undefined,
    /** Class names from the deployment (the gateway's model record). */
    readonly labels: string[] | undefined,
    /** Bench's short-lived deployments: not persisted, not waited for by readiness. */
    readonly scratch = false,
    readonly aliases: string[] = [],
    /** SHA-256 of the bearer that bench's scratch deployment may be called with (its routes only). */
    readonly scratchCredentialSha256?: Buffer,
  ) {}

  enter(): void {
    this.inFlight++;
  }

  leave(): void {
    this.inFlight--;
    if (this.inFlight === 0) this.drained?.();
  }

  /** Resolves when no request is using this entry any more (bounded). */
  waitDrained(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.drained = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** The deployed file's own class names first (a trained version's), then the deployment's labels, then the id. */
  label(classId: number): string {
    return this.facts.names?.[classId] ?? this.labels?.[classId] ?? String(classId);
  }

  /** Image side for requests that do not say: the model's own imgsz, else the endpoint's default. */
  imgsz(fallback: number): number {
    return this.facts.imgsz ?? fallback;
  }
}

export type StatusSink = (s: Omit<DeploymentStatus, 'schemaVersion'>) => void;

/**
 * The set of deployed models. Loads and unloads on deployment events, one change at a time per
 * name; a redeploy under a served name swaps only after the new one is loaded and warm, and the
 * old one is closed after its in-flight requests drain, so traffic never sees a gap.
 */
@Injectable()
export class ModelRepository implements OnApplicationShutdown {
  private readonly serving = new Map<string, ModelEntry>();
  /** alias -> served name */
  private readonly aliases = new Map<string, string>();
  private readonly pending = new Map<string, ModelEntry>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly desired = new Map<string, DeploymentChanged>();
  private restored = false;
  private statusSink: StatusSink = () => undefined;

  constructor(
    @Inject(ENGINES) private readonly engines: Engine[],
    @Inject(REPOSITORY_OPTIONS) private readonly opts: RepositoryOptions,
    @Inject(REPOSITORY_LOGGER) private readonly log: Logger,
    @Optional() @Inject(GPU_LEASE_CLIENT) private readonly leases?: GpuLeaseClient,
    @Optional() private readonly artifacts?: Artifacts,
  ) {}

  onStatus(sink: StatusSink): void {
    this.statusSink = sink;
  }

  /** The model served under this name, or under this alias when no model has the name itself. */
  get(name: string): ModelEntry | undefined {
    const direct = this.serving.get(name);
    if (direct) return direct;
    const target = this.aliases.get(name);
    return target === undefined ? undefined : this.serving.get(target);
  }

  list(): ModelEntry[] {
    return [...this.serving.values()];
  }

  /**
   * Ready = restored from the state file and every requested deployment loaded and warm. A scratch
   * deployment (a benchmark's) loading does not make the data plane unready for everything else.
   */
  readiness(): true | string {
    if (!this.restored) return 'restoring deployments';
    const pending = [...this.pending.values()].filter((e) => !e.scratch);
    if (pending.length) return `loading: ${pending.map((e) => e.name).join(', ')}`;
    const loading = this.list().filter((e) => e.state !== 'ready' && !e.scratch);
    return loading.length ? `loading: ${loading.map((e) => e.name).join(', ')}` : true;
  }

  /** Reloads the persisted deployment set (start-up). */
  async restore(): Promise<void> {
    const file = this.opts.stateFile;
    let saved: DeploymentChanged[] = [];
    if (file) {
      try {
        saved = JSON.parse(readFileSync(file, 'utf8')) as DeploymentChanged[];
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
          this.log.warn({ err: e, file }, 'deployment state unreadable; starting empty');
      }
    }
    const work = saved.map((d) => this.apply(d));
    this.restored = true;
    await Promise.all(work);
  }

  /** Applies a deployment event; resolves when it has taken effect (loaded, failed or removed). */
  apply(ev: DeploymentChanged): Promise<void> {
    const prev = this.chains.get(ev.modelName) ?? Promise.resolve();
    const next = prev
      .then(() => (ev.action === 'deploy' ? this.deploy(ev) : this.undeploy(ev)))
      .catch((e) => this.log.error({ err: e }, 'deployment change failed'));
    this.chains.set(ev.modelName, next);
    return next;
  }

  private persist(): void {
    const file = this.opts.stateFile;
    if (!file) return;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      // Scratch deployments are not restored after a restart: their benchmark is gone with them.
      writeFileSync(tmp, JSON.stringify([...this.desired.values()].filter((d) => !d.scratch)));
      renameSync(tmp, file);
    } catch (e) {
      this.log.warn({ err: e, file }, 'could not persist deployment state');
    }
  }

  private engineFor(config: EngineConfig): Engine {
    const e = this.engines.find((x) => x.id === config.engine);
    if (!e) throw new Error(`engine ${config.engine} is not available in this data plane`);
    return e;
  }

  private async deploy(ev: DeploymentChanged): Promise<void> {
    const current = this.serving.get(ev.modelName);
    if (current && current.deploymentId === ev.deploymentId && current.state === 'ready') {
      this.statusSink({ deploymentId: ev.deploymentId, state: 'ready' }); // idempotent redelivery
      return;
    }
    if (!ev.config) {
      this.statusSink({
        deploymentId: ev.deploymentId,
        state: 'failed',
        error: 'deployment carries no engine config (modelPath)',
      });
      return;
    }
    const entry = new ModelEntry(
      ev.deploymentId,
      ev.modelName,
      ev.config,
      ev.task,
      ev.labels,
      ev.scratch === true,
      ev.aliases,
      ev.scratch === true && ev.scratchCredentialSha256 ? Buffer.from(ev.scratchCredentialSha256, 'hex') : undefined,
    );
    this.pending.set(ev.modelName, entry);
    this.desired.set(ev.modelName, ev);
    this.persist();
    this.statusSink({ deploymentId: ev.deploymentId, state: 'loading' });
    const started = Date.now();
    try {
      await this.acquireGpu(entry);
      const engine = this.engineFor(ev.config);
      const modelPath = await this.materialize(entry);
      entry.facts = await this.factsOf(modelPath);
      entry.model = await withTimeout(
        (async () => {
          const m = await engine.load({
            id: ev.deploymentId,
            name: ev.modelName,
            task: ev.task,
            config: { ...ev.config!, modelPath },
            imgsz: entry.facts.imgsz,
          });
          await m.warmup();
          return m;
        })(),
        this.opts.loadTimeoutMs,
        `loading ${ev.modelName} took longer than ${this.opts.loadTimeoutMs} ms`,
      );
    } catch (e) {
      await this.releaseGpu(entry);
      entry.artifact?.release();
      if (this.pending.get(ev.modelName) === entry) this.pending.delete(ev.modelName);
      if (this.desired.get(ev.modelName)?.deploymentId === ev.deploymentId) {
        this.desired.delete(ev.modelName);
        this.persist();
      }
      const error = (e as Error).message;
      this.log.warn({ model: ev.modelName, deploymentId: ev.deploymentId, error }, 'deployment failed to load');
      this.statusSink({ deploymentId: ev.deploymentId, state: 'failed', error: error.slice(0, 4000) });
      return;
    }
    entry.state = 'ready';
    this.pending.delete(ev.modelName);
    const old = this.serving.get(ev.modelName);
    this.serving.set(ev.modelName, entry);
    for (const [alias, target] of this.aliases) if (target === ev.modelName) this.aliases.delete(alias);
    for (const alias of entry.aliases) this.aliases.set(alias, ev.modelName);
    this.log.info(
      { model: ev.modelName, deploymentId: ev.deploymentId, engine: ev.config.engine, ms: Date.now() - started },
      'model ready',
    );
    this.statusSink({ deploymentId: ev.deploymentId, state: 'ready' });
    if (old) await this.retire(old);
  }

  private async undeploy(ev: DeploymentChanged): Promise<void> {
    const pend = this.pending.get(ev.modelName);
    if (pend?.deploymentId === ev.deploymentId) this.pending.delete(ev.modelName);
    if (this.desired.get(ev.modelName)?.deploymentId === ev.deploymentId) {
      this.desired.delete(ev.modelName);
      this.persist();
    }
    const entry = this.serving.get(ev.modelName);
    if (entry && entry.deploymentId === ev.deploymentId) {
      this.unserve(ev.modelName);
      await this.retire(entry);
    }
    this.statusSink({ deploymentId: ev.deploymentId, state: 'removed' });
  }

  private unserve(name: string): void {
    this.serving.delete(name);
    for (const [alias, target] of this.aliases) if (target === name) this.aliases.delete(alias);
  }

  /** The model file's metadata; a file without any (or unreadable metadata) just has no facts. */
  private async factsOf(modelPath: string): Promise<ModelFacts> {
    try {
      return modelFacts(await readOnnxMetadata(modelPath));
    } catch (e) {
      // A missing file fails the load itself, with the engine's reason.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn({ err: e, modelPath }, 'ONNX metadata unreadable; serving without imgsz/names from the file');
      return {};
    }
  }

  /** Closes a model no longer routed to, once its in-flight requests finished (bounded). */
  private async retire(entry: ModelEntry): Promise<void> {
    await entry.waitDrained(60_000);
    try {
      await entry.model?.close();
    } catch (e) {
      this.log.warn({ err: e, model: entry.name }, 'closing a retired model failed');
    }
    await this.releaseGpu(entry);
    entry.artifact?.release();
  }

  /**
   * The model file on this host. With an artifact store (objectstore) the deployment's modelPath
   * is a key: it is fetched into the cache (unless there already) and pinned until the model is
   * retired, so the cache never evicts a file the engine has open. Local mode: the path itself.
   */
  private async materialize(entry: ModelEntry): Promise<string> {
    if (!this.artifacts || this.artifacts.kind === 'local') return entry.config.modelPath;
    entry.artifact = await this.artifacts.open(entry.config.modelPath);
    return entry.artifact.path;
  }

  /** One lease per loaded instance of a GPU engine, held while it is loaded. */
  private async acquireGpu(entry: ModelEntry): Promise<void> {
    if (entry.config.options.provider === 'cpu') return;
    const present = (this.opts.gpuPresent ?? nvidiaGpuPresent)();
    if (!present)
      throw new Error(`provider ${entry.config.options.provider} needs an NVIDIA GPU; none is present on this machine`);
    if (!this.leases)
      throw new Error(`provider ${entry.config.options.provider} needs a GPU lease, and no lease client is configured`);
    const lease = await this.leases.acquire({
      holder: `inference:${entry.deploymentId}`,
      priority: 'inference',
      ttlMs: 30_000,
      waitMs: this.opts.loadTimeoutMs,
    });
    entry.leases.push(lease);
    void lease.lost.then(({ reason }) => {
      if (this.serving.get(entry.name) !== entry) return;
      // Without its lease the model may not use the GPU: stop serving it and say why.
      this.log.error({ model: entry.name, reason }, 'GPU lease lost; unloading');
      this.unserve(entry.name);
      this.statusSink({ deploymentId: entry.deploymentId, state: 'failed', error: `GPU lease lost: ${reason}` });
      void this.retire(entry);
    });
  }

  private async releaseGpu(entry: ModelEntry): Promise<void> {
    for (const l of entry.leases.splice(0)) await l.release().catch(() => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    const all = this.list();
    this.serving.clear();
    this.aliases.clear();
    await Promise.all(all.map((e) => this.retire(e)));
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(message)), ms)))]).finally(
    () => clearTimeout(t),
  );
}
