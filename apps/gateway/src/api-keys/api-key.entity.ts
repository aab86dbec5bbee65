import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { ApiKeyRole } from '@cvp/contracts';

/** An API key: only its SHA-256 is stored; the key itself is shown once, at creation. */
@Entity('api_keys')
@Index('idx_api_keys_owner', ['ownerId'])
export class ApiKeyEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ type: 'varchar', length: 100 }) name!: string;
  /** First characters of the key, so users can tell keys apart without the secret. */
  @Column({ type: 'varchar', length: 16 }) prefix!: string;
  @Column({ name: 'key_hash', type: 'varchar', length: 64, unique: true }) keyHash!: string;
  /** The role the key acts with: infer (inference only), viewer, engineer or admin. */
  @Column({ type: 'varchar', length: 16 }) scope!: ApiKeyRole;
  @Column({ name: 'owner_id', type: 'varchar', length: 36 }) ownerId!: string;
  @Column({ name: 'created_at', type: 'varchar', length: 32 }) createdAt!: string;
  @Column({ name: 'last_used_at', type: 'varchar', length: 32, nullable: true }) lastUsedAt!: string | null;
  @Column({ name: 'revoked_at', type: 'varchar', length: 32, nullable: true }) revokedAt!: string | null;
}
