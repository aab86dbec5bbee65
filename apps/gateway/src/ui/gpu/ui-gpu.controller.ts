import { Get, Param, Post, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { h } from 'preact';
import { GpuLeaseService } from '../../gpu-leases/gpu-lease.service';
import type { UiRequest } from '../session/ui-request';
import { CanAdminister, CanView, redirectAfterAction, UiController } from '../ui-controller';
import { UiRenderer } from '../ui-renderer';
import { GpuLive, GpuPage } from './gpu.view';

@UiController('ui/gpu')
export class UiGpuController {
  constructor(
    private readonly leases: GpuLeaseService,
    private readonly renderer: UiRenderer,
  ) {}

  @Get()
  @CanView()
  async page(@Req() req: UiRequest, @Res() res: Response) {
    this.renderer.page(res, h(GpuPage, { ctx: this.renderer.context(req), view: await this.leases.view() }));
  }

  @Get('live')
  @CanView()
  async live(@Req() req: UiRequest, @Res() res: Response) {
    this.renderer.fragment(res, h(GpuLive, { ctx: this.renderer.context(req), view: await this.leases.view() }));
  }

  @Post('leases/:id/release')
  @CanAdminister()
  async release(@Param('id') id: string, @Req() req: UiRequest, @Res() res: Response) {
    await this.leases.forceRelease(id, req.user!.name);
    redirectAfterAction(req, res, '/ui/gpu');
  }
}
