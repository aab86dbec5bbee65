import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiProperty, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { auditQuery, type AuditQuery, AuditService } from './audit.service';

class AuditEntryDto {
  @ApiProperty() id!: string;
  @ApiProperty() at!: string;
  @ApiProperty({ nullable: true, type: String }) actorId!: string | null;
  @ApiProperty({ nullable: true, type: String }) actorName!: string | null;
  @ApiProperty({ enum: ['user', 'apiKey', 'anonymous'] }) actorKind!: string;
  @ApiProperty({ example: 'ModelsController.upload' }) action!: string;
  @ApiProperty() method!: string;
  @ApiProperty() path!: string;
  @ApiProperty({ nullable: true, type: String }) target!: string | null;
  @ApiProperty({ enum: ['success', 'denied', 'failure'] }) result!: string;
  @ApiProperty() status!: number;
  @ApiProperty({ nullable: true, type: String }) correlationId!: string | null;
  @ApiProperty({ nullable: true, type: String }) detail!: string | null;
}
class AuditPageDto {
  @ApiProperty({ type: [AuditEntryDto] }) items!: AuditEntryDto[];
  @ApiProperty() total!: number;
  @ApiProperty() page!: number;
  @ApiProperty() limit!: number;
}

@ApiTags('audit')
@Roles('admin')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @ApiOkResponse({ type: AuditPageDto, description: 'newest first' })
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
