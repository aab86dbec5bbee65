import { Controller, NotFoundException, Param, Post, Req, Res } from '@nestjs/common';
import { ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import type { Request, Response } from 'express';
import { DeploymentsService } from './deployments.service';
import { InferProxyService } from './infer-proxy.service';

@ApiTags('inference')
@Controller('models')
export class InferProxyController {
  constructor(
    private readonly deployments: DeploymentsService,
    private readonly proxy: InferProxyService,
  ) {}

  @Post(':id/infer')
  @Roles('admin', 'engineer', 'viewer', 'infer')
  @ApiConsumes('image/jpeg', 'image/png', 'multipart/form-data')
  @ApiOperation({
    summary:
      'Run the deployed model on an image (JPEG/PNG body, or multipart field "image"): detections or classes. Query: conf, iou, max_det, imgsz, top_k. 429 + Retry-After when the data plane is saturated.',
  })
  async infer(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const target = await this.deployments.servingTarget(id);
    if (!target) {
      req.resume();
      throw new NotFoundException(`model ${id} has no active deployment; POST /api/v1/deployments first`);
    }
    await this.proxy.forward(req, res, target);
  }
}
