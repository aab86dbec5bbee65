import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One signed-in browser. The cookie holds a random token; the row is keyed by its SHA-256, so a
 * copy of the database cannot be replayed as cookies.
 */
@Entity('ui_sessions')
export class UiSessionEntity {
  /** SHA-256 (hex) of the cookie's token. */
  @PrimaryColumn({ name: 'token_hash', type: 'varchar', length: 64 }) tokenHash!: string;
  @Column({ name: 'user_id', type: 'varchar', length: 36 }) userId!: string;
  /** Synchronizer token that every non-GET form and htmx request of this session must carry. */
  @Column({ name: 'csrf_token', type: 'varchar', length: 64 }) csrfToken!: string;
  /** Derived from the user's password hash at sign-in: a password change ends every session. */
  @Column({ name: 'credential_tag', type: 'varchar', length: 32 }) credentialTag!: string;
  @Column({ name: 'created_at', type: 'varchar', length: 32 }) createdAt!: string;
  @Column({ name: 'last_seen_at', type: 'varchar', length: 32 }) lastSeenAt!: string;
  @Column({ name: 'expires_at', type: 'varchar', length: 32 }) expiresAt!: string;
  @Column({ name: 'user_agent', type: 'varchar', length: 200, nullable: true }) userAgent!: string | null;
}
