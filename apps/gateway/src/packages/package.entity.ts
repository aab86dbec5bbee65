import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One deployable bundle made by a package job (the tarball lives under packages/<id>/ in the data dir). */
@Entity({ name: 'packages' })
@Index('idx_packages_owner', ['ownerId'])
@Index('idx_packages_model_created', ['modelId', 'createdAt'])
export class PackageEntity {
  /** pkg-<24 hex>: derived from the bundle's manifest, so equal inputs share one row. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  /** The latest job that produced this package. */
  @Column({ name: 'job_id', type: 'varchar', length: 64 })
  jobId!: string;

  @Column({ name: 'owner_id', type: 'varchar', length: 64 })
  ownerId!: string;

  @Column({ name: 'model_id', type: 'varchar', length: 64 })
  modelId!: string;

  @Column({ name: 'model_version', type: 'integer' })
  modelVersion!: number;

  /** native | ort-node: the engine actually bundled. */
  @Column({ type: 'varchar', length: 32 })
  engine!: string;

  /** True when the engine came from bench's selection (job input engine "selected"). */
  @Column({ type: 'boolean' })
  selected!: boolean;

  /** cpu | cuda */
  @Column({ type: 'varchar', length: 8 })
  variant!: string;

  @Column({ name: 'benchmark_id', type: 'varchar', length: 64, nullable: true })
  benchmarkId!: string | null;

  /** SHA-256 (hex) of the tarball. */
  @Column({ type: 'varchar', length: 64 })
  sha256!: string;

  @Column({
    name: 'size_bytes',
    type: 'bigint',
    transformer: { to: (v: number) => v, from: (v: string | number) => Number(v) },
  })
  sizeBytes!: number;

  @Column({ name: 'file_count', type: 'integer' })
  fileCount!: number;

  /** Relative to the data dir. */
  @Column({ name: 'tarball_path', type: 'text' })
  tarballPath!: string;

  /** ISO-8601 */
  @Column({ name: 'created_at', type: 'varchar', length: 32 })
  createdAt!: string;
}
