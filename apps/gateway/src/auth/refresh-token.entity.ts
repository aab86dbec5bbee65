import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** One issued refresh token (its jti); rotation revokes it, reuse of a revoked one revokes them all. */
@Entity('refresh_tokens')
@Index(['userId'])
export class RefreshTokenEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 }) id!: string;
  @Column({ name: 'user_id', type: 'varchar', length: 36 }) userId!: string;
  @Column({ name: 'expires_at', type: 'varchar', length: 32 }) expiresAt!: string;
  @Column({ name: 'revoked_at', type: 'varchar', length: 32, nullable: true }) revokedAt!: string | null;
  @Column({ name: 'created_at', type: 'varchar', length: 32 }) createdAt!: string;
}
