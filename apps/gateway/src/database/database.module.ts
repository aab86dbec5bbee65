import { mkdirSync } from 'node:fs';
import { Module, type OnModuleInit } from '@nestjs/common';
import { APP_PIPE } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ReadinessChecks, SERVICE_CONFIG } from '@cvp/platform';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { dataSourceOptions, type DatabaseConfig, openDatabase } from './data-source';
import { NoNulCharactersPipe } from './no-nul-characters.pipe';

@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [SERVICE_CONFIG],
      useFactory: (c: DatabaseConfig) => {
        mkdirSync(c.CVP_DATA_DIR, { recursive: true });
        return { ...dataSourceOptions(c), autoLoadEntities: true };
      },
      dataSourceFactory: (options) => openDatabase(options as DataSourceOptions),
    }),
  ],
  // Global: text the database cannot store is refused as 400 before any handler runs.
  providers: [{ provide: APP_PIPE, useClass: NoNulCharactersPipe }],
})
export class DatabaseModule implements OnModuleInit {
  constructor(
    private readonly ds: DataSource,
    private readonly readiness: ReadinessChecks,
  ) {}

  onModuleInit() {
    // Reported by name in /health/ready, so a database outage reads as "database: down" there.
    this.readiness.register('database', async () => {
      await this.ds.query('SELECT 1');
      return true;
    });
  }
}
