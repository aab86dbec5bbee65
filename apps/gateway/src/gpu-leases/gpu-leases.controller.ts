import { Controller, Delete, Get, HttpCode, Param } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { GpuLeaseService } from './gpu-lease.service';

@ApiTags('gpu')
@Controller('gpu/leases')
export class GpuLeasesController {
  constructor(private readonly leases: GpuLeaseService) {}

  @Get()
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({ summary: 'GPU lease holders and waiters (with ages), and the token count' })
  list() {
    return this.leases.view();
  }

  @Delete(':id')
  @HttpCode(204)
  @Roles('admin')
  @ApiOperation({ summary: 'Force-release a GPU lease (its holder learns at its next renew)' })
  async forceRelease(@Param('id') id: string, @CurrentPrincipal() who?: AuthenticatedPrincipal): Promise<void> {
    await this.leases.forceRelease(id, who?.name ?? 'admin');
  }
}
