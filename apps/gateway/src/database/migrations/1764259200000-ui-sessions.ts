import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Web UI sessions: one row per signed-in browser, keyed by the SHA-256 of its cookie token. */
export class UiSessions1764259200000 implements MigrationInterface {
  name = 'UiSessions1764259200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "ui_sessions" (
      "token_hash" varchar(64) PRIMARY KEY NOT NULL,
      "user_id" varchar(36) NOT NULL,
      "csrf_token" varchar(64) NOT NULL,
      "credential_tag" varchar(32) NOT NULL,
      "created_at" varchar(32) NOT NULL,
      "last_seen_at" varchar(32) NOT NULL,
      "expires_at" varchar(32) NOT NULL,
      "user_agent" varchar(200)
    )`);
    await q.query(`CREATE INDEX "idx_ui_sessions_user" ON "ui_sessions" ("user_id")`);
    await q.query(`CREATE INDEX "idx_ui_sessions_expires" ON "ui_sessions" ("expires_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "idx_ui_sessions_expires"`);
    await q.query(`DROP INDEX "idx_ui_sessions_user"`);
    await q.query(`DROP TABLE "ui_sessions"`);
  }
}
