import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import { PageDto } from '../common/pagination';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { auditQuery, type AuditQuery, AuditService } from './audit.service';

@ApiTags('audit')
@ApiBearerAuth()
@Roles('admin')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOkResponse({ type: PageDto, description: 'newest first' })
  @ApiQuery({ name: 'actor', required: false, description: 'user id, api key principal id or name' })
  @ApiQuery({ name: 'action', required: false, example: 'ModelsController.upload' })
  @ApiQuery({ name: 'target', required: false })
  @ApiQuery({ name: 'result', required: false, enum: ['success', 'denied', 'failure'] })
  @ApiQuery({ name: 'from', required: false, description: 'ISO time' })
  @ApiQuery({ name: 'to', required: false, description: 'ISO time' })
  @ApiQuery({ name: 'page', required: false })
  @ApiQuery({ name: 'limit', required: false })
  list(@Query(new ZodValidationPipe(auditQuery)) q: AuditQuery) {
    return this.audit.list(q);
  }
}
