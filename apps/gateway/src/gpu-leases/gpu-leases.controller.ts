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
  @ApiProperty({ description: 'the pool (node or GPU) it counts against', example: 'gpu-a' }) node!: string;
  @ApiProperty(PRIORITY) priority!: string;
  @ApiProperty({ description: 'grows with every grant; stale holders are fenced off by it' }) fencingToken!: number;
  @ApiProperty() grantedAt!: string;
  @ApiProperty() ageMs!: number;
  @ApiProperty({ description: 'time left unless renewed' }) expiresInMs!: number;
}
class GpuLeaseWaiterDto {
  @ApiProperty() requestId!: string;
  @ApiProperty() holder!: string;
  @ApiProperty() node!: string;
  @ApiProperty(PRIORITY) priority!: string;
  @ApiProperty({ description: '1 = next to be granted on its node' }) position!: number;
  @ApiProperty() enqueuedAt!: string;
  @ApiProperty() waitingMs!: number;
}
class GpuLeasePoolDto {
  @ApiProperty({ example: 'gpu-a' }) node!: string;
  @ApiProperty({ description: 'CVP_GPU_NODE_TOKENS for this node, else CVP_GPU_TOKENS' }) tokens!: number;
  @ApiProperty() inUse!: number;
  @ApiProperty() waiting!: number;
}
class GpuLeasesDto {
  @ApiProperty({ description: 'pool size of a node without a setting of its own (CVP_GPU_TOKENS)' }) tokens!: number;
  @ApiProperty({ description: 'holders on every node' }) inUse!: number;
  @ApiProperty({
    type: [GpuLeasePoolDto],
    description: 'every configured node and every node with a holder or waiter, by name',
  })
  pools!: GpuLeasePoolDto[];
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
  @ApiOperation({ summary: 'GPU token pools per node, lease holders and waiters (with ages)' })
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
