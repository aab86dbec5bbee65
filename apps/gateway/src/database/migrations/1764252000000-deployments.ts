import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Deployments table: one row per deployment of a model on the data plane. */
export class Deployments1764252000000 implements MigrationInterface {
  name = 'Deployments1764252000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "deployments" (
      "id" varchar(64) PRIMARY KEY NOT NULL,
      "model_id" varchar(64) NOT NULL,
      "model_version" integer NOT NULL,
      "requested_engine" varchar(16) NOT NULL,
      "engine" varchar(16) NOT NULL,
      "config" text NOT NULL,
      "benchmark_id" varchar(64),
      "state" varchar(16) NOT NULL,
      "error" text,
      "owner_id" varchar(64) NOT NULL,
      "created_at" varchar(32) NOT NULL,
      "updated_at" varchar(32) NOT NULL
    )`);
    await q.query(`CREATE INDEX "idx_deployments_model_created" ON "deployments" ("model_id", "created_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "idx_deployments_model_created"`);
    await q.query(`DROP TABLE "deployments"`);
  }
}
