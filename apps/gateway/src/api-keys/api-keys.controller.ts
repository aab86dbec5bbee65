import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiBody, ApiCreatedResponse, ApiOkResponse, ApiProperty, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import { z } from 'zod';
import { paginationQuery, type PaginationQuery } from '../common/pagination';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { ApiKeysService } from './api-keys.service';

const createApiKeySchema = z.object({ name: z.string().min(1).max(100) }).strict();

class CreateApiKeyDto {
  @ApiProperty({ example: 'camera-line-3' }) name!: string;
}
class CreatedApiKeyDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'the key itself; shown only in this answer' }) key!: string;
  @ApiProperty({ example: 'infer' }) scope!: string;
}
class ApiKeyDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'first characters of the key, to recognise it' }) prefix!: string;
  @ApiProperty({ example: 'infer' }) scope!: string;
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
@Roles('admin')
@Controller('api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @ApiBody({ type: CreateApiKeyDto })
  @ApiCreatedResponse({ type: CreatedApiKeyDto, description: 'scope infer; the key is shown once' })
  create(
    @Body(new ZodValidationPipe(createApiKeySchema)) body: { name: string },
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.keys.create(body.name, who.ownerId);
  }

  @Get()
  @ApiOkResponse({ type: ApiKeyPageDto })
  @ApiQuery({ name: 'page', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-200, default 50' })
  list(@Query(new ZodValidationPipe(paginationQuery)) q: PaginationQuery) {
    return this.keys.list(q);
  }

  @Delete(':id')
  @ApiOkResponse({ type: ApiKeyDto, description: 'revoked (idempotent)' })
  revoke(@Param('id', ParseUUIDPipe) id: string) {
    return this.keys.revoke(id);
  }
}
