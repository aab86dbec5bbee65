import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The stream sequence of the last worker event each job applied, so an event redelivered after
 * the gateway that applied it died before acknowledging it is not applied twice.
 */
export class JobWorkerEvent1765100000000 implements MigrationInterface {
  name = 'JobWorkerEvent1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "jobs" ADD COLUMN "last_worker_event" bigint NOT NULL DEFAULT 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "jobs" DROP COLUMN "last_worker_event"`);
  }
}
