import { randomBytes } from 'node:crypto';
import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EngineConfig, engineOptionsSchema, type ModelTask } from '@cvp/contracts';
import { In, LessThan, Not, Repository } from 'typeorm';
import { assertMayChange } from '../auth/ownership';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { BenchmarksService } from '../benchmarks/benchmarks.service';
import { ModelsService } from '../models/models.service';
import { ACTIVE_DEPLOYMENT_STATES, DeploymentEntity, type DeploymentState } from './deployment.entity';
import { DeploymentPublisher } from './deployment.publisher';
import type { CreateDeployment } from './deployments.dto';

export interface DeploymentView {
  id: string;
  modelId: string;
  modelVersion: number;
  requestedEngine: string;
  engine: string;
  options: EngineConfig['options'];
  benchmarkId: string | null;
  state: DeploymentState;
  error: string | null;
  ownerId: string;
  /** Where the data plane serves it (KServe v2 name) and the gateway route that proxies to it. */
  servedAs: string;
  inferUrl: string;
  createdAt: string;
  updatedAt: string;
}

/** The model facts a proxied request needs, cached briefly so the hot path skips the database. */
export interface ServingTarget {
  modelId: string;
  task: ModelTask;
}

const now = () => new Date().toISOString();

@Injectable()
export class DeploymentsService {
  private readonly targetCache = new Map<string, { target: ServingTarget | null; until: number }>();

  constructor(
    @InjectRepository(DeploymentEntity) private readonly repo: Repository<DeploymentEntity>,
    private readonly models: ModelsService,
    private readonly benchmarks: BenchmarksService,
    private readonly publisher: DeploymentPublisher,
  ) {}

  /**
   * Deploys a model's latest ONNX with the given engine, or bench's selection; 202-style (loads
   * asynchronously). Only the model's owner or an admin: the deployment replaces what the model's
   * name serves on the data plane.
   */
  async create(dto: CreateDeployment, who: Pick<AuthenticatedPrincipal, 'ownerId' | 'role'>): Promise<DeploymentView> {
    const ownerId = who.ownerId;
    const model = await this.models.describe(dto.modelId);
    const modelOwner = await this.models.ownerOf(dto.modelId);
    if (!model || !modelOwner) throw new NotFoundException(`model ${dto.modelId} not found`);
    assertMayChange(who, { ownerId: modelOwner }, `model ${dto.modelId} (deploying it decides what its name serves)`);
    let config: EngineConfig;
    let benchmarkId: string | null = null;
    let modelVersion = model.latestVersion;
    if (dto.engine === 'selected') {
      const sel = await this.benchmarks.latestSelection(dto.modelId);
      if (!sel)
        throw new ConflictException(
          `model ${dto.modelId} has no benchmark with a selected engine; run a bench job (POST /jobs/bench) first, or name an engine`,
        );
      benchmarkId = sel.benchmarkId;
      config = { ...sel.config, options: { ...sel.config.options, ...dto.options } };
      modelVersion = (await this.benchmarks.get(sel.benchmarkId)).modelVersion;
    } else {
      const version =
        model.versions.find((v) => v.version === model.latestVersion && v.onnxPath) ??
        [...model.versions].reverse().find((v) => v.onnxPath);
      if (!version?.onnxPath)
        throw new ConflictException(`model ${dto.modelId} has no ONNX file yet (conversion pending or failed)`);
      modelVersion = version.version;
      config = {
        engine: dto.engine,
        options: engineOptionsSchema.parse(dto.options ?? {}),
        modelPath: version.onnxPath,
      };
    }
    const row = await this.repo.save({
      id: `dep-${randomBytes(12).toString('hex')}`,
      modelId: dto.modelId,
      modelVersion,
      requestedEngine: dto.engine,
      engine: config.engine,
      config: JSON.stringify(config),
      benchmarkId,
      state: 'loading' as DeploymentState,
      error: null,
      ownerId,
      createdAt: now(),
      updatedAt: now(),
    });
    this.publisher.deploy(row.id, dto.modelId, model.task, model.labels, config);
    this.targetCache.delete(dto.modelId);
    return this.view(row);
  }

  async list(
    q: { modelId?: string; all?: 'true' | 'false'; limit: number },
    ownerId?: string,
  ): Promise<DeploymentView[]> {
    const where = {
      ...(q.modelId ? { modelId: q.modelId } : {}),
      ...(ownerId ? { ownerId } : {}),
      ...(q.all === 'true' ? {} : { state: In([...ACTIVE_DEPLOYMENT_STATES, 'removing']) }),
    };
    const rows = await this.repo.find({ where, order: { createdAt: 'DESC', id: 'DESC' }, take: q.limit });
    return rows.map((r) => this.view(r));
  }

  async get(id: string): Promise<DeploymentView> {
    const row = await this.repo.findOneBy({ id });
    if (!row) throw new NotFoundException(`deployment ${id} not found`);
    return this.view(row);
  }

  /** Undeploys (idempotent; its owner or an admin): the data plane unloads once in-flight requests drain. */
  async remove(id: string, who: Pick<AuthenticatedPrincipal, 'ownerId' | 'role'>): Promise<DeploymentView> {
    const row = await this.repo.findOneBy({ id });
    if (!row) throw new NotFoundException(`deployment ${id} not found`);
    assertMayChange(who, row, `deployment ${id}`);
    if (row.state === 'removed' || row.state === 'replaced' || row.state === 'failed') return this.view(row);
    row.state = 'removing';
    row.updatedAt = now();
    await this.repo.save(row);
    this.publisher.undeploy(row.id, row.modelId);
    this.targetCache.delete(row.modelId);
    return this.view(row);
  }

  /** Applies a cvp.deployments.status report from the data plane. */
  async applyStatus(
    deploymentId: string,
    state: 'loading' | 'ready' | 'failed' | 'removed',
    error?: string,
  ): Promise<void> {
    const row = await this.repo.findOneBy({ id: deploymentId });
    if (!row) return;
    if (row.state === 'removed' || (row.state === 'replaced' && state !== 'ready')) return; // terminal
    if (row.state === 'removing' && state !== 'removed') return; // an undeploy is under way
    row.state = state;
    row.error = state === 'failed' ? (error ?? 'failed to load') : null;
    row.updatedAt = now();
    await this.repo.save(row);
    if (state === 'ready') {
      // The data plane swapped names: older deployments of this model no longer serve.
      await this.repo.update(
        {
          modelId: row.modelId,
          id: Not(row.id),
          createdAt: LessThan(row.createdAt),
          state: In([...ACTIVE_DEPLOYMENT_STATES]),
        },
        { state: 'replaced', updatedAt: now() },
      );
    }
    this.targetCache.delete(row.modelId);
  }

  /** Active deployments, re-announced at start-up so a data plane that missed an event catches up (idempotent there). */
  async active(): Promise<DeploymentEntity[]> {
    return this.repo.find({ where: { state: In([...ACTIVE_DEPLOYMENT_STATES]) }, order: { createdAt: 'ASC' } });
  }

  async reannounce(): Promise<number> {
    const rows = await this.active();
    for (const r of rows) {
      const model = await this.models.describe(r.modelId);
      if (!model) continue;
      this.publisher.deploy(r.id, r.modelId, model.task, model.labels, JSON.parse(r.config) as EngineConfig);
    }
    return rows.length;
  }

  /** What the proxy forwards to, or null when the model has no deployment that is loading or ready. */
  async servingTarget(modelId: string): Promise<ServingTarget | null> {
    const c = this.targetCache.get(modelId);
    if (c && c.until > Date.now()) return c.target;
    const row = await this.repo.findOne({
      where: { modelId, state: In([...ACTIVE_DEPLOYMENT_STATES]) },
      order: { createdAt: 'DESC' },
    });
    let target: ServingTarget | null = null;
    if (row) {
      const model = await this.models.describe(modelId);
      if (model) target = { modelId, task: model.task };
    }
    this.targetCache.set(modelId, { target, until: Date.now() + 2000 });
    return target;
  }

  private view(r: DeploymentEntity): DeploymentView {
    const config = JSON.parse(r.config) as EngineConfig;
    return {
      id: r.id,
      modelId: r.modelId,
      modelVersion: r.modelVersion,
      requestedEngine: r.requestedEngine,
      engine: r.engine,
      options: config.options,
      benchmarkId: r.benchmarkId,
      state: r.state,
      error: r.error,
      ownerId: r.ownerId,
      servedAs: `/v2/models/${r.modelId}`,
      inferUrl: `/api/v1/models/${r.modelId}/infer`,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    };
  }
}
