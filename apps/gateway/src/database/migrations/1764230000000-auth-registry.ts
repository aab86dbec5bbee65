import { type MigrationInterface, type QueryRunner, Table, TableIndex } from 'typeorm';

/**
 * Tables of auth and the registry: users, refresh tokens, API keys, audit log, models with versions, datasets.
 * Portable between SQLite and PostgreSQL: times are ISO-8601 strings, JSON is text.
 */
export class AuthRegistry1764230000000 implements MigrationInterface {
  name = 'AuthRegistry1764230000000';

  async up(q: QueryRunner): Promise<void> {
    const id = { name: 'id', type: 'varchar', length: '36', isPrimary: true };
    const time = (name: string, nullable = false) => ({ name, type: 'varchar', length: '32', isNullable: nullable });
    await q.createTable(
      new Table({
        name: 'users',
        columns: [
          id,
          { name: 'username', type: 'varchar', length: '64', isUnique: true },
          { name: 'password_hash', type: 'varchar', length: '100' },
          { name: 'role', type: 'varchar', length: '16' },
          { name: 'disabled', type: 'boolean', default: false },
          { name: 'failed_logins', type: 'integer', default: 0 },
          time('locked_until', true),
          time('last_login_at', true),
          time('created_at'),
          time('updated_at'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'refresh_tokens',
        columns: [
          id,
          { name: 'user_id', type: 'varchar', length: '36' },
          time('expires_at'),
          time('revoked_at', true),
          time('created_at'),
        ],
        indices: [{ columnNames: ['user_id'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'api_keys',
        columns: [
          id,
          { name: 'name', type: 'varchar', length: '100' },
          { name: 'prefix', type: 'varchar', length: '16' },
          { name: 'key_hash', type: 'varchar', length: '64', isUnique: true },
          { name: 'scope', type: 'varchar', length: '16' },
          { name: 'owner_id', type: 'varchar', length: '36' },
          time('created_at'),
          time('last_used_at', true),
          time('revoked_at', true),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'audit_log',
        columns: [
          id,
          time('at'),
          { name: 'actor_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'actor_name', type: 'varchar', length: '100', isNullable: true },
          { name: 'actor_kind', type: 'varchar', length: '16' },
          { name: 'action', type: 'varchar', length: '100' },
          { name: 'method', type: 'varchar', length: '10' },
          { name: 'path', type: 'varchar', length: '300' },
          { name: 'target', type: 'varchar', length: '100', isNullable: true },
          { name: 'result', type: 'varchar', length: '16' },
          { name: 'status', type: 'integer' },
          { name: 'correlation_id', type: 'varchar', length: '128', isNullable: true },
          { name: 'detail', type: 'text', isNullable: true },
        ],
      }),
    );
    await q.createIndex('audit_log', new TableIndex({ columnNames: ['at'] }));
    await q.createIndex('audit_log', new TableIndex({ columnNames: ['actor_id', 'at'] }));
    await q.createTable(
      new Table({
        name: 'models',
        columns: [
          id,
          { name: 'name', type: 'varchar', length: '200' },
          { name: 'task', type: 'varchar', length: '16' },
          { name: 'source_format', type: 'varchar', length: '32' },
          { name: 'preset', type: 'varchar', length: '32', isNullable: true },
          { name: 'labels', type: 'text', isNullable: true },
          { name: 'owner_id', type: 'varchar', length: '64' },
          { name: 'latest_version', type: 'integer', default: 0 },
          time('created_at'),
          time('updated_at'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'model_versions',
        columns: [
          { name: 'model_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'version', type: 'integer', isPrimary: true },
          { name: 'source_path', type: 'varchar', length: '1000', isNullable: true },
          { name: 'source_sha256', type: 'varchar', length: '64', isNullable: true },
          { name: 'source_size', type: 'bigint', isNullable: true },
          { name: 'source_format', type: 'varchar', length: '32' },
          { name: 'onnx_path', type: 'varchar', length: '1000', isNullable: true },
          { name: 'trained', type: 'boolean', default: false },
          { name: 'metadata', type: 'text', isNullable: true },
          { name: 'metrics', type: 'text', isNullable: true },
          { name: 'job_id', type: 'varchar', length: '64', isNullable: true },
          time('created_at'),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'datasets',
        columns: [
          id,
          { name: 'name', type: 'varchar', length: '200' },
          { name: 'format', type: 'varchar', length: '16' },
          { name: 'valid', type: 'boolean', default: false },
          { name: 'classes', type: 'text' },
          { name: 'report', type: 'text' },
          { name: 'sha256', type: 'varchar', length: '64' },
          { name: 'size', type: 'bigint' },
          { name: 'owner_id', type: 'varchar', length: '64' },
          time('created_at'),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['datasets', 'model_versions', 'models', 'audit_log', 'api_keys', 'refresh_tokens', 'users'])
      await q.dropTable(t, true);
  }
}
