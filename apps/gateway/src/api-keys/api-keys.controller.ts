import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiCreatedResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import { z } from 'zod';
import { PageDto, paginationQuery, type PaginationQuery } from '../common/pagination';
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

@ApiTags('api-keys')
@ApiBearerAuth()
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
  @ApiOkResponse({ type: PageDto })
  list(@Query(new ZodValidationPipe(paginationQuery)) q: PaginationQuery) {
    return this.keys.list(q);
  }

  @Delete(':id')
  @ApiOkResponse({ description: 'revoked (idempotent)' })
  revoke(@Param('id', ParseUUIDPipe) id: string) {
    return this.keys.revoke(id);
  }
}
