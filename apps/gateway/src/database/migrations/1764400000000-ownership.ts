import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Owner indexes: lists filtered by ?owner=, the per-user active-job count and the handover update by owner. */
export class Ownership1764400000000 implements MigrationInterface {
  name = 'Ownership1764400000000';

  private readonly indexes: [name: string, table: string, columns: string][] = [
    ['idx_jobs_owner_state', 'jobs', '"owner_id", "state"'],
    ['idx_models_owner', 'models', '"owner_id"'],
    ['idx_datasets_owner', 'datasets', '"owner_id"'],
    ['idx_deployments_owner', 'deployments', '"owner_id"'],
    ['idx_packages_owner', 'packages', '"owner_id"'],
    ['idx_benchmarks_owner', 'benchmarks', '"owner_id"'],
    ['idx_api_keys_owner', 'api_keys', '"owner_id"'],
  ];

  async up(q: QueryRunner): Promise<void> {
    for (const [name, table, columns] of this.indexes)
      await q.query(`CREATE INDEX "${name}" ON "${table}" (${columns})`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [name] of this.indexes) await q.query(`DROP INDEX "${name}"`);
  }
}
