import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post, Query, UseGuards } from '@nestjs/common';
import {
  ApiBody,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import { API_KEY_ROLES, type ApiKeyRole } from '@cvp/contracts';
import { Roles } from '@cvp/platform';
import { z } from 'zod';
import { paginationQuery } from '../common/pagination';
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
    description:
      "what the key may do: infer (inference only; the default), viewer, engineer, admin; at most its owner's role",
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
class ApiKeyDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'first characters of the key, to recognise it' }) prefix!: string;
  @ApiProperty({ enum: API_KEY_ROLES }) role!: string;
  @ApiProperty({ enum: API_KEY_ROLES, description: 'same as role (older clients read scope)' }) scope!: string;
  @ApiProperty() ownerId!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ nullable: true, type: String }) lastUsedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
}
class ApiKeyPageDto {
  @ApiProperty({ type: [ApiKeyDto] }) items!: ApiKeyDto[];
  @ApiProperty() total!: number;
  @ApiProperty() page!: number;
  @ApiProperty() limit!: number;
}

@ApiTags('api-keys')
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
  @ApiOkResponse({ type: ApiKeyPageDto })
  @ApiQuery({ name: 'page', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-200, default 50' })
  @ApiQuery({ name: 'owner', required: false, type: String, description: '"me" or a user id' })
  list(
    @Query(new ZodValidationPipe(listApiKeysQuery)) q: z.infer<typeof listApiKeysQuery>,
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.keys.list(q, who, ownerFilter(q.owner, who));
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke a key (idempotent; its owner or an admin)' })
  @ApiOkResponse({ type: ApiKeyDto, description: 'revoked (idempotent)' })
  revoke(@Param('id', ParseUUIDPipe) id: string, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    return this.keys.revoke(id, who);
  }
}
