import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { PackageEntity } from './package.entity';
import { PackagesController } from './packages.controller';
import { PackagesService } from './packages.service';

/** Packages: rows from succeeded package jobs, listing and tarball download. POST /jobs/package is the jobs module's. */
@Module({
  imports: [TypeOrmModule.forFeature([PackageEntity])],
  controllers: [PackagesController],
  providers: [PackagesService],
  exports: [PackagesService],
})
export class PackagesModule {}
