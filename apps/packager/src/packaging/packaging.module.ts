import { Module } from '@nestjs/common';
import { BundleAssembler } from './bundle-assembler.service';
import { PackageJobHandler } from './package-job.handler';
import { PackageWriter } from './package-writer.service';
import { RegistryClient } from './registry.client';

/** Package jobs: registry facts -> bundle -> tarball. */
@Module({
  providers: [RegistryClient, BundleAssembler, PackageWriter, PackageJobHandler],
  exports: [PackageJobHandler, RegistryClient, BundleAssembler, PackageWriter],
})
export class PackagingModule {}
