import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { ModelFormat, ModelTask } from '@cvp/contracts';

const json = {
  to: (v: unknown) => (v == null ? null : JSON.stringify(v)),
  from: (v: string | null) => (v == null ? null : JSON.parse(v)),
};
const bigint = { to: (v: number | null) => v, from: (v: string | number | null) => (v == null ? null : Number(v)) };

@Entity('models')
@Index('idx_models_owner', ['ownerId'])
export class ModelEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ type: 'varchar', length: 200 }) name!: string;
  @Column({ type: 'varchar', length: 16 }) task!: ModelTask;
  /** Format of what the user gave (or the preset's framework); each version also records its own. */
  @Column({ name: 'source_format', type: 'varchar', length: 32 }) sourceFormat!: ModelFormat;
  /** yolov8n... for presets: the convert worker builds the architecture from this name. */
  @Column({ type: 'varchar', length: 32, nullable: true }) preset!: string | null;
  @Column({ type: 'text', nullable: true, transformer: json }) labels!: string[] | null;
  @Column({ name: 'owner_id', type: 'varchar', length: 64 }) ownerId!: string;
  @Column({ name: 'latest_version', type: 'integer', default: 0 }) latestVersion!: number;
  @Column({ name: 'created_at', type: 'varchar', length: 32 }) createdAt!: string;
  @Column({ name: 'updated_at', type: 'varchar', length: 32 }) updatedAt!: string;
}

@Entity('model_versions')
export class ModelVersionEntity {
  @PrimaryColumn({ name: 'model_id', type: 'varchar', length: 36 }) modelId!: string;
  @PrimaryColumn({ type: 'integer' }) version!: number;
  @Column({ name: 'source_path', type: 'varchar', length: 1000, nullable: true }) sourcePath!: string | null;
  @Column({ name: 'source_sha256', type: 'varchar', length: 64, nullable: true }) sourceSha256!: string | null;
  @Column({ name: 'source_size', type: 'bigint', nullable: true, transformer: bigint }) sourceSize!: number | null;
  @Column({ name: 'source_format', type: 'varchar', length: 32 }) sourceFormat!: ModelFormat;
  @Column({ name: 'onnx_path', type: 'varchar', length: 1000, nullable: true }) onnxPath!: string | null;
  @Column({ type: 'boolean', default: false }) trained!: boolean;
  /** `python -m cvp_ml inspect` output plus conversion facts (maxAbsDiff, validation); inputShape hint from the upload. */
  @Column({ type: 'text', nullable: true, transformer: json }) metadata!: Record<string, unknown> | null;
  @Column({ type: 'text', nullable: true, transformer: json }) metrics!: Record<string, unknown> | null;
  @Column({ name: 'job_id', type: 'varchar', length: 64, nullable: true }) jobId!: string | null;
  @Column({ name: 'created_at', type: 'varchar', length: 32 }) createdAt!: string;
}
