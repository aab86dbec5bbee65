import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Benchmarks table: one row per succeeded bench job. */
export class Benchmarks1764237600000 implements MigrationInterface {
  name = 'Benchmarks1764237600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "benchmarks" (
      "id" varchar(64) PRIMARY KEY NOT NULL,
      "model_id" varchar(64) NOT NULL,
      "model_version" integer NOT NULL,
      "job_id" varchar(64) NOT NULL UNIQUE,
      "owner_id" varchar(64) NOT NULL,
      "status" varchar(32) NOT NULL,
      "selected_config" text,
      "selected_id" varchar(200),
      "baseline_p50_ms" real NOT NULL,
      "selected_p50_ms" real,
      "summary" text NOT NULL,
      "report_dir" text NOT NULL,
      "created_at" varchar(32) NOT NULL
    )`);
    await q.query(`CREATE INDEX "idx_benchmarks_model_created" ON "benchmarks" ("model_id", "created_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "idx_benchmarks_model_created"`);
    await q.query(`DROP TABLE "benchmarks"`);
  }
}
