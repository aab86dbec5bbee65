import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One job: what was asked (type, input), by whom, and how it went. Times are ISO-8601 strings. */
@Entity({ name: 'jobs' })
@Index('idx_jobs_owner_state', ['ownerId', 'state'])
@Index('idx_jobs_type_state_created', ['type', 'state', 'createdAt'])
@Index('idx_jobs_created', ['createdAt'])
export class JobEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ name: 'owner_id', type: 'varchar', length: 64 })
  ownerId!: string;

  @Column({ type: 'varchar', length: 16 })
  type!: string;

  /** Validated input, JSON. */
  @Column({ type: 'text' })
  input!: string;

  /** queued -> running -> succeeded | failed | cancelled */
  @Column({ type: 'varchar', length: 16 })
  state!: string;

  /** Deliveries a worker started (1 on the first). */
  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  /** 0..1 */
  @Column({ type: 'double precision', default: 0 })
  progress!: number;

  @Column({ type: 'varchar', length: 200, nullable: true })
  stage!: string | null;

  /** What the job made, JSON (modelId, benchmarkId, packageId, trials...). */
  @Column({ type: 'text', nullable: true })
  result!: string | null;

  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt!: string;

  @Column({ name: 'started_at', type: 'varchar', length: 32, nullable: true })
  startedAt!: string | null;

  @Column({ name: 'finished_at', type: 'varchar', length: 32, nullable: true })
  finishedAt!: string | null;

  @Column({ name: 'updated_at', type: 'varchar', length: 32 })
  updatedAt!: string;

  /**
   * Stream sequence of the newest worker event applied to this job (0: none): a redelivered event
   * at or below it was applied already. A bigint, read back as a number.
   */
  @Column({
    name: 'last_worker_event',
    type: 'bigint',
    default: 0,
    transformer: { to: (v: number) => v, from: (v: string | number) => Number(v) },
  })
  lastWorkerEvent!: number;

  /** Sequence number of the newest event in job_events (the SSE event id). */
  @Column({ name: 'last_event_seq', type: 'integer', default: 0 })
  lastEventSeq!: number;
}
