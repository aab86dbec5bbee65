import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The event log of a job as SSE clients see it; `seq` is the SSE event id (Last-Event-ID resume). */
@Entity({ name: 'job_events' })
export class JobEventEntity {
  @PrimaryColumn({ name: 'job_id', type: 'varchar', length: 36 })
  jobId!: string;

  @PrimaryColumn({ type: 'integer' })
  seq!: number;

  @Column({ type: 'varchar', length: 32 })
  at!: string;

  /** JobEventView minus seq/at, JSON. */
  @Column({ type: 'text' })
  payload!: string;
}
