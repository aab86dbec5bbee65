import { Module } from '@nestjs/common';
import { GpuLeaseResponder } from './gpu-lease.responder';
import { GpuLeaseService } from './gpu-lease.service';
import { GpuLeasesController } from './gpu-leases.controller';
import { LeaseStore } from './lease-store';

/** The central GPU lease service (two tokens by default) that every service acquires through libs/gpu-lease. */
@Module({
  controllers: [GpuLeasesController],
  providers: [LeaseStore, GpuLeaseService, GpuLeaseResponder],
  exports: [GpuLeaseService],
})
export class GpuLeasesModule {}
