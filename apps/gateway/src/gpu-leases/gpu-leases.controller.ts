import { Controller, Delete, Get, HttpCode, Param } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { LEASE_PRIORITIES } from '@cvp/contracts';
import { Roles } from '@cvp/platform';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { GpuLeaseService } from './gpu-lease.service';

const PRIORITY = { enum: LEASE_PRIORITIES };
class GpuLeaseHolderDto {
  @ApiProperty({ description: 'lease id' }) id!: string;
  @ApiProperty({ example: 'trainer-bridge:<jobId>' }) holder!: string;
  @ApiProperty(PRIORITY) priority!: string;
  @ApiProperty({ description: 'grows with every grant; stale holders are fenced off by it' }) fencingToken!: number;
  @ApiProperty() grantedAt!: string;
  @ApiProperty() ageMs!: number;
  @ApiProperty({ description: 'time left unless renewed' }) expiresInMs!: number;
}
class GpuLeaseWaiterDto {
  @ApiProperty() requestId!: string;
  @ApiProperty() holder!: string;
  @ApiProperty(PRIORITY) priority!: string;
  @ApiProperty({ description: '1 = next to be granted' }) position!: number;
  @ApiProperty() enqueuedAt!: string;
  @ApiProperty() waitingMs!: number;
}
class GpuLeasesDto {
  @ApiProperty({ description: 'CVP_GPU_TOKENS' }) tokens!: number;
  @ApiProperty() inUse!: number;
  @ApiProperty({ type: [GpuLeaseHolderDto] }) holders!: GpuLeaseHolderDto[];
  @ApiProperty({ type: [GpuLeaseWaiterDto], description: 'in grant order (priority, then FIFO)' })
  waiters!: GpuLeaseWaiterDto[];
}

@ApiTags('gpu')
@Controller('gpu/leases')
export class GpuLeasesController {
  constructor(private readonly leases: GpuLeaseService) {}

  @Get()
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({ summary: 'GPU lease holders and waiters (with ages), and the token count' })
  @ApiOkResponse({ type: GpuLeasesDto })
  list() {
    return this.leases.view();
  }

  @Delete(':id')
  @HttpCode(204)
  @Roles('admin')
  @ApiOperation({ summary: 'Force-release a GPU lease (its holder learns at its next renew)' })
  @ApiNoContentResponse({ description: 'released' })
  async forceRelease(@Param('id') id: string, @CurrentPrincipal() who?: AuthenticatedPrincipal): Promise<void> {
    await this.leases.forceRelease(id, who?.name ?? 'admin');
  }
}
