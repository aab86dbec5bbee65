import {
  BadRequestException,
  Controller,
  Delete,
  Get,
  HttpCode,
  Injectable,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiProperty,
  ApiPropertyOptional,
  ApiQuery,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnprocessableEntityResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import { DATASET_FORMATS } from '@cvp/contracts';
import { InjectConfig, Roles } from '@cvp/platform';
import { z } from 'zod';
import { paginationQuery } from '../common/pagination';
import { ownerFilter, ownerQuery } from '../auth/ownership';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { UserLimitsService } from '../limits/user-limits.service';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import type { GatewayConfig } from '../config';
import {
  SingleFileUploadInterceptor,
  stagedUpload,
  type UploadLimits,
  type UploadRequest,
} from '../common/upload/single-file-upload.interceptor';
import { UploadAdmission } from '../common/upload/upload-admission';
import { DatasetsService } from './datasets.service';

const uploadFields = z
  .object({ format: z.enum(DATASET_FORMATS), name: z.string().min(1).max(200).optional() })
  .strict();
const listQuery = paginationQuery.extend({
  valid: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  format: z.enum(DATASET_FORMATS).optional(),
  owner: ownerQuery,
});

class UploadDatasetDto {
  @ApiProperty({
    type: 'string',
    format: 'binary',
    description: 'zip: YOLO (data.yaml, images/<split>, labels/<split>) or imagefolder (<split>/<class>/*.jpg)',
  })
  file!: unknown;
  @ApiProperty({ enum: DATASET_FORMATS }) format!: string;
  @ApiPropertyOptional() name?: string;
}
class DatasetProblemDto {
  @ApiProperty({ description: 'path inside the archive' }) file!: string;
  @ApiPropertyOptional() line?: number;
  @ApiProperty() message!: string;
}
class SplitCountsDto {
  @ApiProperty() images!: number;
  @ApiProperty({ description: 'YOLO: label files; imagefolder: images' }) labels!: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'number' }, description: 'boxes or images per class' })
  perClass!: Record<string, number>;
}
class DatasetReportDto {
  @ApiProperty({ enum: DATASET_FORMATS }) format!: string;
  @ApiProperty() valid!: boolean;
  @ApiProperty({ type: [String] }) classes!: string[];
  @ApiProperty({ type: 'object', additionalProperties: { $ref: '#/components/schemas/SplitCountsDto' } })
  splits!: Record<string, SplitCountsDto>;
  @ApiProperty() images!: number;
  @ApiProperty({ type: [DatasetProblemDto], description: 'what makes the set unusable' })
  problems!: DatasetProblemDto[];
  @ApiProperty({ type: [DatasetProblemDto], description: 'what is odd but usable' }) warnings!: DatasetProblemDto[];
  @ApiProperty({ description: 'problems beyond the listed ones (the list is capped)' }) problemsTruncated!: number;
  @ApiProperty({ description: 'folder holding data.yaml or the split folders' }) root!: string;
}
class DatasetSummaryDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: DATASET_FORMATS }) format!: string;
  @ApiProperty() valid!: boolean;
  @ApiProperty({ type: [String] }) classes!: string[];
  @ApiProperty() sha256!: string;
  @ApiProperty({ description: 'bytes of the uploaded zip' }) size!: number;
  @ApiProperty() ownerId!: string;
  @ApiProperty() createdAt!: string;
}
class DatasetDto extends DatasetSummaryDto {
  @ApiProperty({ type: DatasetReportDto }) report!: DatasetReportDto;
}
class DatasetPageDto {
  @ApiProperty({ type: [DatasetSummaryDto] }) items!: DatasetSummaryDto[];
  @ApiProperty() total!: number;
  @ApiProperty() page!: number;
  @ApiProperty() limit!: number;
}

/** Data set zips: capped at CVP_DATASET_UPLOAD_MAX_BYTES. */
@Injectable()
export class DatasetUploadInterceptor extends SingleFileUploadInterceptor {
  private readonly admission: UploadAdmission;
  constructor(
    @InjectConfig() private readonly config: GatewayConfig,
    private readonly datasets: DatasetsService,
    private readonly userLimits: UserLimitsService,
  ) {
    super();
    this.admission = new UploadAdmission(config.CVP_UPLOAD_CONCURRENCY);
  }
  protected limits(): UploadLimits {
    return {
      maxFileBytes: this.config.CVP_DATASET_UPLOAD_MAX_BYTES,
      tmpDir: this.datasets.uploadTmpDir,
      admission: this.admission,
    };
  }
  /** Refused before the body is read when its owner is at the storage limit. */
  protected override async admit(req: UploadRequest, declaredBytes: number | undefined): Promise<void> {
    const owner = (req as UploadRequest & { user?: AuthenticatedPrincipal }).user?.ownerId;
    if (owner) await this.userLimits.assertMayStore(owner, declaredBytes ?? 0);
  }
}

@ApiTags('datasets')
@ApiExtraModels(SplitCountsDto)
@Controller('datasets')
export class DatasetsController {
  constructor(private readonly datasets: DatasetsService) {}

  @Post()
  @Roles('admin', 'engineer')
  @UseInterceptors(DatasetUploadInterceptor)
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: UploadDatasetDto })
  @ApiCreatedResponse({ type: DatasetDto, description: 'extracted and valid' })
  @ApiUnprocessableEntityResponse({
    description:
      'unsafe archive (zip-slip, symlink, device entry), or a data set that failed validation (kept with its report: datasetId, report)',
  })
  @ApiPayloadTooLargeResponse({
    description: 'over CVP_DATASET_UPLOAD_MAX_BYTES, a decompression bomb, or an image bomb',
  })
  @ApiUnsupportedMediaTypeResponse({ description: 'not multipart, or the file is not a zip' })
  @ApiTooManyRequestsResponse({ description: 'CVP_UPLOAD_CONCURRENCY uploads in flight (Retry-After)' })
  upload(@Req() req: UploadRequest, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    const staged = stagedUpload(req);
    if (!staged) throw new BadRequestException('multipart part "file" is missing');
    return this.datasets.upload(staged, uploadFields.parse(req.body ?? {}), who.ownerId);
  }

  @Get()
  @Roles('admin', 'engineer', 'viewer')
  @ApiOkResponse({ type: DatasetPageDto, description: 'newest first; the reports are in GET /datasets/{id}' })
  @ApiQuery({ name: 'valid', required: false, enum: ['true', 'false'] })
  @ApiQuery({ name: 'format', required: false, enum: DATASET_FORMATS })
  @ApiQuery({ name: 'owner', required: false, type: String, description: '"me" or a user id' })
  @ApiQuery({ name: 'page', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-200, default 50' })
  list(
    @Query(new ZodValidationPipe(listQuery)) q: z.infer<typeof listQuery>,
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.datasets.list(q, ownerFilter(q.owner, who));
  }

  @Get(':id')
  @Roles('admin', 'engineer', 'viewer')
  @ApiOkResponse({ type: DatasetDto })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.datasets.get(id);
  }

  @Delete(':id')
  @Roles('admin', 'engineer')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a data set and its files (its owner or an admin)' })
  @ApiNoContentResponse({ description: 'deleted with its files' })
  async remove(@Param('id', ParseUUIDPipe) id: string, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    await this.datasets.remove(id, who);
  }
}
