import { mkdirSync } from 'node:fs';
import { Module, type OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ReadinessChecks, SERVICE_CONFIG } from '@cvp/platform';
import { DataSource } from 'typeorm';
import { dataSourceOptions, type DatabaseConfig } from './data-source';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [SERVICE_CONFIG],
      useFactory: (c: DatabaseConfig) => {
        mkdirSync(c.CVP_DATA_DIR, { recursive: true });
        return { ...dataSourceOptions(c), autoLoadEntities: true };
      },
    }),
  ],
})
export class DatabaseModule implements OnModuleInit {
  constructor(
    private readonly ds: DataSource,
    private readonly readiness: ReadinessChecks,
  ) {}

  onModuleInit() {
    this.readiness.register('database', async () => {
      await this.ds.query('SELECT 1');
      return true;
    });
  }
}
