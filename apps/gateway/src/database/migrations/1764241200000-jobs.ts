import { type MigrationInterface, type QueryRunner, Table } from 'typeorm';

/** Jobs and their event log. Portable: ISO-8601 strings for times, JSON as text. */
export class Jobs1764241200000 implements MigrationInterface {
  name = 'Jobs1764241200000';

  async up(q: QueryRunner): Promise<void> {
    const time = (name: string, nullable = false) => ({ name, type: 'varchar', length: '32', isNullable: nullable });
    await q.createTable(
      new Table({
        name: 'jobs',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'owner_id', type: 'varchar', length: '64' },
          { name: 'type', type: 'varchar', length: '16' },
          { name: 'input', type: 'text' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'error', type: 'text', isNullable: true },
          { name: 'progress', type: 'real', default: 0 },
          { name: 'stage', type: 'varchar', length: '200', isNullable: true },
          { name: 'result', type: 'text', isNullable: true },
          time('created_at'),
          time('started_at', true),
          time('finished_at', true),
          time('updated_at'),
          { name: 'last_event_seq', type: 'integer', default: 0 },
        ],
        indices: [
          { name: 'idx_jobs_type_state_created', columnNames: ['type', 'state', 'created_at'] },
          { name: 'idx_jobs_created', columnNames: ['created_at'] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'job_events',
        columns: [
          { name: 'job_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'seq', type: 'integer', isPrimary: true },
          time('at'),
          { name: 'payload', type: 'text' },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('job_events');
    await q.dropTable('jobs');
  }
}
