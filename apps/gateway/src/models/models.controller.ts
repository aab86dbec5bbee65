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
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiTags,
  ApiUnprocessableEntityResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import { PRESET_CATALOG, PRESETS } from '@cvp/contracts';
import { Roles } from '@cvp/platform';
import { PageDto } from '../common/pagination';
import { ownerFilter } from '../auth/ownership';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { ModelUploadInterceptor } from './model-upload.interceptor';
import {
  AcceptedModelDto,
  listModelsQuery,
  type ListModelsQuery,
  ModelDto,
  PresetDto,
  presetBody,
  presetName,
  UploadModelDto,
  uploadModelFields,
} from './models.dto';
import { ModelsService } from './models.service';
import { stagedUpload, type UploadRequest } from '../common/upload/single-file-upload.interceptor';

@ApiTags('models')
@ApiBearerAuth()
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
  preset(
    @Param('name', new ZodValidationPipe(presetName)) name: (typeof PRESETS)[number],
    @Body(new ZodValidationPipe(presetBody)) body: { name?: string; labels?: string[] },
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.models.createPreset(name, body, who);
  }

  @Get()
  @Roles('admin', 'engineer', 'viewer')
  @ApiOkResponse({ type: PageDto, description: 'items are models; ?owner=me|<user id> filters by owner' })
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
  async remove(@Param('id', ParseUUIDPipe) id: string, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    await this.models.remove(id, who);
  }
}
