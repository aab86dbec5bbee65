import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One mutating HTTP call: who, what, on which target, with what result, when, under which correlation id. */
@Entity('audit_log')
@Index(['at'])
@Index(['actorId', 'at'])
export class AuditEntryEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ type: 'varchar', length: 32 }) at!: string;
  @Column({ name: 'actor_id', type: 'varchar', length: 64, nullable: true }) actorId!: string | null;
  @Column({ name: 'actor_name', type: 'varchar', length: 100, nullable: true }) actorName!: string | null;
  /** user | apiKey | anonymous */
  @Column({ name: 'actor_kind', type: 'varchar', length: 16 }) actorKind!: string;
  /** Controller.handler (e.g. ModelsController.upload), or METHOD path when no route matched. */
  @Column({ type: 'varchar', length: 100 }) action!: string;
  @Column({ type: 'varchar', length: 10 }) method!: string;
  @Column({ type: 'varchar', length: 300 }) path!: string;
  @Column({ type: 'varchar', length: 100, nullable: true }) target!: string | null;
  /** success | denied | failure */
  @Column({ type: 'varchar', length: 16 }) result!: string;
  @Column({ type: 'integer' }) status!: number;
  @Column({ name: 'correlation_id', type: 'varchar', length: 128, nullable: true }) correlationId!: string | null;
  @Column({ type: 'text', nullable: true }) detail!: string | null;
}
