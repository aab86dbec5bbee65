import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One finished benchmark run: where its report lives and what it selected. */
@Entity({ name: 'benchmarks' })
@Index('idx_benchmarks_owner', ['ownerId'])
@Index('idx_benchmarks_model_created', ['modelId', 'createdAt'])
export class BenchmarkEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'model_id', type: 'varchar', length: 64 })
  modelId!: string;

  @Column({ name: 'model_version', type: 'integer' })
  modelVersion!: number;

  @Column({ name: 'job_id', type: 'varchar', length: 64, unique: true })
  jobId!: string;

  @Column({ name: 'owner_id', type: 'varchar', length: 64 })
  ownerId!: string;

  /** selected | infeasible | no-candidates */
  @Column({ type: 'varchar', length: 32 })
  status!: string;

  /** EngineConfig JSON of the selection, null when nothing satisfied the constraints. */
  @Column({ name: 'selected_config', type: 'text', nullable: true })
  selectedConfig!: string | null;

  @Column({ name: 'selected_id', type: 'varchar', length: 200, nullable: true })
  selectedId!: string | null;

  @Column({ name: 'baseline_p50_ms', type: 'double precision' })
  baselineP50Ms!: number;

  @Column({ name: 'selected_p50_ms', type: 'double precision', nullable: true })
  selectedP50Ms!: number | null;

  @Column({ type: 'text' })
  summary!: string;

  @Column({ name: 'report_dir', type: 'text' })
  reportDir!: string;

  /** ISO-8601; ordering by it gives the latest benchmark of a model. */
  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt!: string;
}
