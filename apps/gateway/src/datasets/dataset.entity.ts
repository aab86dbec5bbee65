import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { DatasetFormat } from '@cvp/contracts';
import type { ValidationReport } from './dataset-validator';

const json = { to: (v: unknown) => JSON.stringify(v), from: (v: string) => JSON.parse(v) };
const bigint = { to: (v: number) => v, from: (v: string | number) => Number(v) };

/** A data set: valid ones can train; rejected ones keep their report and cannot. */
@Entity('datasets')
@Index('idx_datasets_owner', ['ownerId'])
export class DatasetEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ type: 'varchar', length: 200 }) name!: string;
  @Column({ type: 'varchar', length: 16 }) format!: DatasetFormat;
  @Column({ type: 'boolean', default: false }) valid!: boolean;
  @Column({ type: 'text', transformer: json }) classes!: string[];
  @Column({ type: 'text', transformer: json }) report!: ValidationReport;
  /** SHA-256 of the uploaded zip. */
  @Column({ type: 'varchar', length: 64 }) sha256!: string;
  @Column({ type: 'bigint', transformer: bigint }) size!: number;
  @Column({ name: 'owner_id', type: 'varchar', length: 64 }) ownerId!: string;
  @Column({ name: 'created_at', type: 'varchar', length: 32 }) createdAt!: string;
}
