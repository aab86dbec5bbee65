import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConsumes,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiQuery,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnprocessableEntityResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import { MODEL_TASKS, PRESET_CATALOG, PRESETS } from '@cvp/contracts';
import { Roles } from '@cvp/platform';
import { ownerFilter } from '../auth/ownership';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { ModelUploadInterceptor } from './model-upload.interceptor';
import {
  AcceptedModelDto,
  listModelsQuery,
  type ListModelsQuery,
  ModelDto,
  ModelPageDto,
  PresetDto,
  presetBody,
  presetName,
  UploadModelDto,
  uploadModelFields,
} from './models.dto';
import { ModelsService } from './models.service';
import { stagedUpload, type UploadRequest } from '../common/upload/single-file-upload.interceptor';

@ApiTags('models')
@Controller('models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Post()
  @Roles('admin', 'engineer')
  @HttpCode(202)
  @UseInterceptors(ModelUploadInterceptor)
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: UploadModelDto })
  @ApiAcceptedResponse({ type: AcceptedModelDto, description: 'stored; a convert job produces and validates the ONNX' })
  @ApiPayloadTooLargeResponse({ description: 'over CVP_MODEL_UPLOAD_MAX_BYTES (checked on Content-Length first)' })
  @ApiUnsupportedMediaTypeResponse({ description: 'content does not match the declared format' })
  @ApiUnprocessableEntityResponse({ description: 'truncated or corrupt file, unsafe external data' })
  @ApiTooManyRequestsResponse({ description: 'CVP_UPLOAD_CONCURRENCY uploads in flight (Retry-After)' })
  @ApiServiceUnavailableResponse({ description: 'the conversion job could not be queued' })
  upload(@Req() req: UploadRequest, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    const staged = stagedUpload(req);
    if (!staged) throw new BadRequestException('multipart part "file" is missing');
    const fields = uploadModelFields.parse(req.body ?? {});
    return this.models.upload(staged, fields, who);
  }

  @Post('presets/:name')
  @Roles('admin', 'engineer')
  @HttpCode(202)
  @ApiParam({
    name: 'name',
    enum: PRESETS,
    description: PRESETS.map((n) => `${n}: ${PRESET_CATALOG[n].description}`).join('; '),
  })
  @ApiBody({ type: PresetDto, required: false })
  @ApiAcceptedResponse({
    type: AcceptedModelDto,
    description: 'an UNTRAINED model built from its architecture by a convert job',
  })
  @ApiServiceUnavailableResponse({ description: 'the conversion job could not be queued' })
  @ApiTooManyRequestsResponse({ description: 'CVP_USER_MAX_ACTIVE_JOBS jobs of yours queued or running (Retry-After)' })
  preset(
    @Param('name', new ZodValidationPipe(presetName)) name: (typeof PRESETS)[number],
    @Body(new ZodValidationPipe(presetBody)) body: { name?: string; labels?: string[] },
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.models.createPreset(name, body, who);
  }

  @Get()
  @Roles('admin', 'engineer', 'viewer')
  @ApiOkResponse({ type: ModelPageDto, description: 'newest first' })
  @ApiQuery({ name: 'task', required: false, enum: MODEL_TASKS })
  @ApiQuery({ name: 'name', required: false, type: String })
  @ApiQuery({ name: 'owner', required: false, type: String, description: '"me" or a user id' })
  @ApiQuery({ name: 'page', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-200, default 50' })
  list(
    @Query(new ZodValidationPipe(listModelsQuery)) q: ListModelsQuery,
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.models.list(q, ownerFilter(q.owner, who));
  }

  @Get(':id')
  @Roles('admin', 'engineer', 'viewer')
  @ApiOkResponse({ type: ModelDto })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.models.get(id);
  }

  @Delete(':id')
  @Roles('admin', 'engineer')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a model with its versions and files (its owner or an admin)' })
  @ApiNoContentResponse({ description: 'deleted with its versions and files' })
  async remove(@Param('id', ParseUUIDPipe) id: string, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    await this.models.remove(id, who);
  }
}
