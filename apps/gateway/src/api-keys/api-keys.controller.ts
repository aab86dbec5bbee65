import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post, Query, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { API_KEY_ROLES, type ApiKeyRole } from '@cvp/contracts';
import { Roles } from '@cvp/platform';
import { z } from 'zod';
import { PageDto, paginationQuery } from '../common/pagination';
import { ownerFilter, ownerQuery } from '../auth/ownership';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { ApiKeysService } from './api-keys.service';
import { UsersOnlyGuard } from './users-only.guard';

const createApiKeySchema = z
  .object({
    name: z.string().min(1).max(100),
    role: z.enum(API_KEY_ROLES).optional(),
    ownerId: z.string().uuid().optional(),
  })
  .strict();
const listApiKeysQuery = paginationQuery.extend({ owner: ownerQuery });

class CreateApiKeyDto {
  @ApiProperty({ example: 'camera-line-3' }) name!: string;
  @ApiPropertyOptional({
    enum: API_KEY_ROLES,
    default: 'infer',
    description: "what the key may do: infer (inference only), viewer, engineer, admin; at most its owner's role",
  })
  role?: string;
  @ApiPropertyOptional({ description: 'admins only: the user the key belongs to (default: the caller)' })
  ownerId?: string;
}
class CreatedApiKeyDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'the key itself; shown only in this answer' }) key!: string;
  @ApiProperty({ enum: API_KEY_ROLES }) role!: string;
  @ApiProperty({ description: 'same as role (older clients read scope)' }) scope!: string;
  @ApiProperty() ownerId!: string;
}

@ApiTags('api-keys')
@ApiBearerAuth()
@Roles('admin', 'engineer', 'viewer')
@Controller('api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @UseGuards(UsersOnlyGuard)
  @ApiBody({ type: CreateApiKeyDto })
  @ApiOperation({
    summary:
      "Create an API key (for yourself, or as an admin for any user); its role is at most its owner's. API keys cannot create keys.",
  })
  @ApiCreatedResponse({ type: CreatedApiKeyDto, description: 'the key is shown once' })
  create(
    @Body(new ZodValidationPipe(createApiKeySchema)) body: { name: string; role?: ApiKeyRole; ownerId?: string },
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.keys.create(body, who);
  }

  @Get()
  @ApiOperation({ summary: 'API keys: your own; admins see every key (?owner=me|<user id> to filter)' })
  @ApiOkResponse({ type: PageDto })
  list(
    @Query(new ZodValidationPipe(listApiKeysQuery)) q: z.infer<typeof listApiKeysQuery>,
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.keys.list(q, who, ownerFilter(q.owner, who));
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke a key (idempotent; its owner or an admin)' })
  @ApiOkResponse({ description: 'revoked' })
  revoke(@Param('id', ParseUUIDPipe) id: string, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    return this.keys.revoke(id, who);
  }
}
