import { Controller, Get, Param, ParseUUIDPipe } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ROLES } from '@cvp/contracts';
import { Roles } from '@cvp/platform';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { UserLimitsService } from './user-limits.service';

class UsedOfMaxDto {
  @ApiProperty() used!: number;
  @ApiProperty() max!: number;
}
class UserLimitsDto {
  @ApiProperty() userId!: string;
  @ApiProperty({ type: UsedOfMaxDto, description: 'jobs queued or running; beyond max: 429 + Retry-After' })
  activeJobs!: UsedOfMaxDto;
  @ApiProperty({
    type: UsedOfMaxDto,
    description: 'bytes of model sources, data set archives and packages kept; beyond max: 413',
  })
  storedBytes!: UsedOfMaxDto;
  @ApiProperty({ description: 'Retry-After of a 429 for the job limit, seconds' }) retryAfterSeconds!: number;
}

@ApiTags('users')
@Controller('users')
export class UserLimitsController {
  constructor(private readonly limits: UserLimitsService) {}

  @Get('me/limits')
  @Roles(...ROLES, 'infer')
  @ApiOperation({ summary: "The caller's per-user limits (an API key's are its owner's) and how much of each is used" })
  @ApiOkResponse({ type: UserLimitsDto })
  mine(@CurrentPrincipal() who: AuthenticatedPrincipal) {
    return this.limits.view(who.ownerId);
  }

  @Get(':id/limits')
  @Roles('admin')
  @ApiOperation({ summary: "A user's limits and usage" })
  @ApiOkResponse({ type: UserLimitsDto })
  of(@Param('id', ParseUUIDPipe) id: string) {
    return this.limits.view(id);
  }
}
