import { Get, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { h } from 'preact';
import { DeploymentsService } from '../../deployments/deployments.service';
import { GpuLeaseService } from '../../gpu-leases/gpu-lease.service';
import { JobsService } from '../../jobs/jobs.service';
import { DeploymentLoadService } from '../deployments/deployment-load.service';
import type { UiRequest } from '../session/ui-request';
import { CanView, UiController } from '../ui-controller';
import { UiRenderer } from '../ui-renderer';
import { type OverviewData, OverviewLive, OverviewPage } from './overview.view';

@UiController('ui')
export class UiOverviewController {
  constructor(
    private readonly jobs: JobsService,
    private readonly leases: GpuLeaseService,
    private readonly deployments: DeploymentsService,
    private readonly load: DeploymentLoadService,
    private readonly renderer: UiRenderer,
  ) {}

  @Get()
  @CanView()
  async page(@Req() req: UiRequest, @Res() res: Response) {
    this.renderer.page(res, h(OverviewPage, { ctx: this.renderer.context(req), data: await this.data() }));
  }

  @Get('overview')
  @CanView()
  async live(@Req() req: UiRequest, @Res() res: Response) {
    this.renderer.fragment(res, h(OverviewLive, { ctx: this.renderer.context(req), data: await this.data() }));
  }

  private async data(): Promise<OverviewData> {
    const [running, queued, gpu, deployments, load] = await Promise.all([
      this.jobs.list({ page: 1, limit: 50, state: 'running' }),
      this.jobs.list({ page: 1, limit: 50, state: 'queued' }),
      this.leases.view(),
      this.deployments.list({ limit: 100 }),
      this.load.read(),
    ]);
    return { jobs: [...running.items, ...queued.items], gpu, deployments, load };
  }
}
