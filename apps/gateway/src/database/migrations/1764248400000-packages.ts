import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Packages table: one row per bundle made by a succeeded package job. */
export class Packages1764248400000 implements MigrationInterface {
  name = 'Packages1764248400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "packages" (
      "id" varchar(64) PRIMARY KEY NOT NULL,
      "job_id" varchar(64) NOT NULL,
      "owner_id" varchar(64) NOT NULL,
      "model_id" varchar(64) NOT NULL,
      "model_version" integer NOT NULL,
      "engine" varchar(32) NOT NULL,
      "selected" boolean NOT NULL,
      "variant" varchar(8) NOT NULL,
      "benchmark_id" varchar(64),
      "sha256" varchar(64) NOT NULL,
      "size_bytes" bigint NOT NULL,
      "file_count" integer NOT NULL,
      "tarball_path" text NOT NULL,
      "created_at" varchar(32) NOT NULL
    )`);
    await q.query(`CREATE INDEX "idx_packages_model_created" ON "packages" ("model_id", "created_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "idx_packages_model_created"`);
    await q.query(`DROP TABLE "packages"`);
  }
}
