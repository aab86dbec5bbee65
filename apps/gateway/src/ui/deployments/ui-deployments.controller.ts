import { ConflictException, Get, HttpException, NotFoundException, Param, Post, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { h } from 'preact';
import { z } from 'zod';
import { createDeploymentSchema } from '../../deployments/deployments.dto';
import { DeploymentsService } from '../../deployments/deployments.service';
import { ModelsService } from '../../models/models.service';
import { DeployForm } from '../models/models.view';
import type { UiRequest } from '../session/ui-request';
import {
  CanAct,
  CanView,
  fieldErrors,
  formFields,
  redirectAfterAction,
  UiController,
  withoutEmpty,
} from '../ui-controller';
import { UiRenderer } from '../ui-renderer';
import { DeploymentLoadService } from './deployment-load.service';
import { DeploymentsPage, DeploymentsTable } from './deployments.view';

const deployForm = z.object({
  modelId: z.string({ required_error: 'choose a model' }).min(1, 'choose a model'),
  engine: z.string({ required_error: 'choose an engine' }),
  threads: z.coerce.number({ invalid_type_error: 'a whole number' }).int('a whole number').min(1).max(64).optional(),
});

@UiController('ui/deployments')
export class UiDeploymentsController {
  constructor(
    private readonly deployments: DeploymentsService,
    private readonly models: ModelsService,
    private readonly load: DeploymentLoadService,
    private readonly renderer: UiRenderer,
  ) {}

  @Get()
  @CanView()
  async page(@Req() req: UiRequest, @Res() res: Response) {
    const [deployments, load, models] = await Promise.all([
      this.deployments.list({ limit: 100 }),
      this.load.read(),
      this.models.list({ page: 1, limit: 200 }),
    ]);
    const names = new Map(models.items.map((m) => [m.id, m.name]));
    this.renderer.page(
      res,
      h(DeploymentsPage, {
        ctx: this.renderer.context(req),
        deployments,
        load,
        names,
        models: models.items.map((m) => ({ id: m.id, name: m.name })),
      }),
    );
  }

  @Get('live')
  @CanView()
  async live(@Req() req: UiRequest, @Res() res: Response) {
    const [deployments, load, models] = await Promise.all([
      this.deployments.list({ limit: 100 }),
      this.load.read(),
      this.models.list({ page: 1, limit: 200 }),
    ]);
    const names = new Map(models.items.map((m) => [m.id, m.name]));
    this.renderer.fragment(res, h(DeploymentsTable, { ctx: this.renderer.context(req), deployments, load, names }));
  }

  /** The same deploy as POST /api/v1/deployments; refusals (no ONNX yet, no selection) go next to the form. */
  @Post()
  @CanAct()
  async deploy(@Req() req: UiRequest, @Res() res: Response) {
    const values = formFields(req.body);
    const ctx = this.renderer.context(req);
    const models = (await this.models.list({ page: 1, limit: 200 })).items.map((m) => ({ id: m.id, name: m.name }));
    const again = (errors: Record<string, string>, status: number) =>
      this.renderer.fragment(res, h(DeployForm, { ctx, models, state: { values, errors } }), status);
    const form = deployForm.safeParse(withoutEmpty(values));
    if (!form.success) return again(fieldErrors(form.error), 422);
    const body = createDeploymentSchema.safeParse({
      modelId: form.data.modelId,
      engine: form.data.engine,
      ...(form.data.threads ? { options: { threads: form.data.threads } } : {}),
    });
    if (!body.success) return again(fieldErrors(body.error), 422);
    try {
      await this.deployments.create(body.data, req.user!);
    } catch (e) {
      if (e instanceof NotFoundException) return again({ modelId: e.message }, 404);
      if (e instanceof ConflictException || (e instanceof HttpException && e.getStatus() < 500))
        return again({ _form: e.message }, e.getStatus());
      throw e;
    }
    redirectAfterAction(req, res, '/ui/deployments');
  }

  @Post(':id/undeploy')
  @CanAct()
  async undeploy(@Param('id') id: string, @Req() req: UiRequest, @Res() res: Response) {
    await this.deployments.remove(id, req.user!);
    redirectAfterAction(req, res, '/ui/deployments');
  }
}
