import { Controller, NotFoundException, Param, Post, Req, Res } from '@nestjs/common';
import {
  ApiGatewayTimeoutResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiProperty,
  ApiPropertyOptional,
  ApiQuery,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import type { Request, Response } from 'express';
import { DeploymentsService } from './deployments.service';
import { InferProxyService } from './infer-proxy.service';

class DetectionDto {
  @ApiProperty() class_id!: number;
  @ApiProperty({ nullable: true, type: String }) label!: string | null;
  @ApiProperty() score!: number;
  @ApiProperty({ type: [Number], description: 'x1, y1, x2, y2 in image pixels' }) box!: number[];
}
class ClassScoreDto {
  @ApiProperty() class_id!: number;
  @ApiProperty({ nullable: true, type: String }) label!: string | null;
  @ApiProperty() score!: number;
}
class InferTimingDto {
  @ApiProperty() queue!: number;
  @ApiProperty() pre!: number;
  @ApiProperty() infer!: number;
  @ApiProperty() post!: number;
}
class ImageSizeDto {
  @ApiProperty() width!: number;
  @ApiProperty() height!: number;
}
class InferResultDto {
  @ApiProperty() model_name!: string;
  @ApiPropertyOptional({ type: ImageSizeDto, description: 'detectors' }) image?: ImageSizeDto;
  @ApiPropertyOptional({ type: [DetectionDto], description: 'detectors' }) detections?: DetectionDto[];
  @ApiPropertyOptional({ type: [ClassScoreDto], description: 'classifiers: top-k' }) classes?: ClassScoreDto[];
  @ApiProperty({ type: InferTimingDto, description: 'milliseconds spent on the data plane' })
  timing_ms!: InferTimingDto;
}
const IMAGE = { type: 'string', format: 'binary' } as const;

@ApiTags('inference')
@Controller('models')
export class InferProxyController {
  constructor(
    private readonly deployments: DeploymentsService,
    private readonly proxy: InferProxyService,
  ) {}

  @Post(':id/infer')
  @Roles('admin', 'engineer', 'viewer', 'infer')
  @ApiOperation({
    summary:
      'Run the deployed model on an image (JPEG/PNG body, or multipart field "image"): detections or classes. Query: conf, iou, max_det, imgsz, top_k. 429 + Retry-After when the data plane is saturated.',
    requestBody: {
      required: true,
      content: {
        'image/jpeg': { schema: IMAGE },
        'image/png': { schema: IMAGE },
        'multipart/form-data': { schema: { type: 'object', required: ['image'], properties: { image: IMAGE } } },
      },
    },
  })
  @ApiQuery({ name: 'conf', required: false, type: Number, description: 'detectors: score threshold (0.25)' })
  @ApiQuery({ name: 'iou', required: false, type: Number, description: 'detectors: NMS IoU (0.45)' })
  @ApiQuery({ name: 'max_det', required: false, type: Number, description: 'detectors: most boxes (300)' })
  @ApiQuery({ name: 'imgsz', required: false, type: Number, description: 'input size for dynamic models' })
  @ApiQuery({ name: 'top_k', required: false, type: Number, description: 'classifiers: classes returned (5)' })
  @ApiQuery({ name: 'normalization', required: false, enum: ['imagenet', 'unit'], description: 'classifiers' })
  @ApiOkResponse({ type: InferResultDto, description: 'detections (detectors) or top-k classes (classifiers)' })
  @ApiPayloadTooLargeResponse({ description: 'image over the proxy or data plane limit, or over the pixel cap' })
  @ApiUnsupportedMediaTypeResponse({ description: 'not a JPEG or PNG image' })
  @ApiTooManyRequestsResponse({ description: 'the data plane is saturated (Retry-After)' })
  @ApiServiceUnavailableResponse({ description: 'the data plane is unavailable or the model not ready (Retry-After)' })
  @ApiGatewayTimeoutResponse({ description: 'the data plane did not answer in time' })
  async infer(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const target = await this.deployments.servingTarget(id);
    if (!target) {
      req.resume();
      throw new NotFoundException(`model ${id} has no active deployment; POST /api/v1/deployments first`);
    }
    await this.proxy.forward(req, res, target);
  }
}
