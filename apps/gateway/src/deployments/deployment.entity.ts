import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export const DEPLOYMENT_STATES = ['loading', 'ready', 'failed', 'removing', 'removed', 'replaced'] as const;
export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];
/** States in which a deployment holds (or is taking) its model's name on the data plane. */
export const ACTIVE_DEPLOYMENT_STATES: DeploymentState[] = ['loading', 'ready'];

/** One deployment of a model version on the data plane, served as /v2/models/<modelId>. */
@Entity({ name: 'deployments' })
@Index('idx_deployments_owner', ['ownerId'])
@Index('idx_deployments_model_created', ['modelId', 'createdAt'])
export class DeploymentEntity {
  /** dep-<24 hex> */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'model_id', type: 'varchar', length: 64 })
  modelId!: string;

  @Column({ name: 'model_version', type: 'integer' })
  modelVersion!: number;

  /** What the user asked for: native | ort-node | selected. */
  @Column({ name: 'requested_engine', type: 'varchar', length: 16 })
  requestedEngine!: string;

  /** What runs: native | ort-node. */
  @Column({ type: 'varchar', length: 16 })
  engine!: string;

  /** EngineConfig (libs/contracts engines.ts) as JSON: engine, options, modelPath. */
  @Column({ type: 'text' })
  config!: string;

  @Column({ name: 'benchmark_id', type: 'varchar', length: 64, nullable: true })
  benchmarkId!: string | null;

  @Column({ type: 'varchar', length: 16 })
  state!: DeploymentState;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ name: 'owner_id', type: 'varchar', length: 64 })
  ownerId!: string;

  /** ISO-8601 */
  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt!: string;

  @Column({ name: 'updated_at', type: 'varchar', length: 32 })
  updatedAt!: string;
}
