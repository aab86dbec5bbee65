import { Get, HttpException, Param, ParseUUIDPipe, Post, Req, Res, UseInterceptors } from '@nestjs/common';
import { benchJobInput, PRESETS } from '@cvp/contracts';
import type { Response } from 'express';
import { h } from 'preact';
import { z, ZodError } from 'zod';
import type { AuthenticatedPrincipal } from '../../auth/principal';
import { BenchmarksService } from '../../benchmarks/benchmarks.service';
import { stagedUpload, type UploadRequest } from '../../common/upload/single-file-upload.interceptor';
import { DeploymentsService } from '../../deployments/deployments.service';
import { JobsService } from '../../jobs/jobs.service';
import type { JobView } from '../../jobs/jobs.dto';
import { ModelUploadInterceptor } from '../../models/model-upload.interceptor';
import { presetBody, uploadModelFields } from '../../models/models.dto';
import { ModelsService } from '../../models/models.service';
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
import { BenchForm, ModelJobsTable, ModelPage, ModelsPage, ModelUploadForm, PresetForm } from './models.view';

const presetForm = z.object({
  preset: z.enum(PRESETS, { message: 'choose a preset' }),
  name: z.string().max(200).optional(),
});
const number = (label: string) =>
  z.coerce.number({ invalid_type_error: `${label}: a number` }).refine(Number.isFinite, `${label}: a number`);
const benchForm = z
  .object({
    maxP95Ms: number('max p95').pipe(z.number().positive('must be above 0')).optional(),
    maxAccuracyDrop: number('max accuracy drop').pipe(z.number().min(0, '0 to 1').max(1, '0 to 1')).optional(),
    maxRssMb: number('max memory').pipe(z.number().positive('must be above 0')).optional(),
    datasetId: z.string().max(64).optional(),
  })
  .strict();

/** Jobs (any type) whose input names this model, newest first, from the latest 200. */
export async function jobsOfModel(jobs: JobsService, modelId: string): Promise<JobView[]> {
  const page = await jobs.list({ page: 1, limit: 200 });
  return page.items.filter((j) => j.input.modelId === modelId).slice(0, 50);
}

@UiController('ui/models')
export class UiModelsController {
  constructor(
    private readonly models: ModelsService,
    private readonly jobs: JobsService,
    private readonly benchmarks: BenchmarksService,
    private readonly deployments: DeploymentsService,
    private readonly renderer: UiRenderer,
  ) {}

  @Get()
  @CanView()
  async list(@Req() req: UiRequest, @Res() res: Response) {
    const page = await this.models.list({ page: 1, limit: 100 });
    this.renderer.page(res, h(ModelsPage, { ctx: this.renderer.context(req), models: page.items, total: page.total }));
  }

  /** The same upload as POST /api/v1/models (caps, sniffing, convert job); problems go next to the fields. */
  @Post()
  @CanAct()
  @UseInterceptors(ModelUploadInterceptor)
  async upload(@Req() req: UploadRequest & UiRequest, @Res() res: Response) {
    const values = formFields(req.body);
    const staged = stagedUpload(req);
    const fields = uploadModelFields.safeParse(withoutEmpty(values));
    const errors = fields.success ? {} : fieldErrors(fields.error);
    if (!staged) errors.file = 'choose a model file';
    if (!fields.success || !staged)
      return this.renderer.fragment(res, h(ModelUploadForm, { state: { values, errors } }), 422);
    try {
      const r = await this.models.upload(staged, fields.data, req.user as AuthenticatedPrincipal);
      redirectAfterAction(req, res, `/ui/models/${r.model.id}`);
    } catch (e) {
      if (!(e instanceof HttpException) || e.getStatus() >= 500) throw e;
      this.renderer.fragment(
        res,
        h(ModelUploadForm, { state: { values, errors: { file: e.message } } }),
        e.getStatus(),
      );
    }
  }

  @Post('presets')
  @CanAct()
  async preset(@Req() req: UiRequest, @Res() res: Response) {
    const values = formFields(req.body);
    const ctx = this.renderer.context(req);
    const parsed = presetForm.safeParse(withoutEmpty(values));
    const body = parsed.success ? presetBody.safeParse({ name: parsed.data.name }) : undefined;
    if (!parsed.success || !body?.success) {
      const errors = parsed.success ? fieldErrors(body!.error!) : fieldErrors(parsed.error);
      return this.renderer.fragment(res, h(PresetForm, { ctx, errors, values }), 422);
    }
    const r = await this.models.createPreset(parsed.data.preset, body.data, req.user!);
    redirectAfterAction(req, res, `/ui/models/${r.model.id}`);
  }

  @Get(':id')
  @CanView()
  async detail(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    const model = await this.models.get(id);
    const [jobs, benchmarks, deployments] = await Promise.all([
      jobsOfModel(this.jobs, id),
      this.benchmarks.list(id, 50),
      this.deployments.list({ modelId: id, limit: 20 }),
    ]);
    this.renderer.page(res, h(ModelPage, { ctx: this.renderer.context(req), model, jobs, benchmarks, deployments }));
  }

  /** The jobs table alone, polled while a job of the model is in flight (conversion status). */
  @Get(':id/jobs')
  @CanView()
  async jobsFragment(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    const jobs = await jobsOfModel(this.jobs, id);
    const live = jobs.some((j) => j.state === 'queued' || j.state === 'running');
    const ctx = this.renderer.context(req);
    this.renderer.fragment(
      res,
      h(
        'div',
        {
          id: 'model-jobs',
          'hx-get': `/ui/models/${id}/jobs`,
          'hx-trigger': live ? `every ${ctx.refreshMs}ms` : undefined,
          'hx-swap': 'outerHTML',
        },
        h(ModelJobsTable, { jobs }),
      ),
    );
  }

  @Post(':id/bench')
  @CanAct()
  async bench(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    const values = formFields(req.body);
    const ctx = this.renderer.context(req);
    const form = benchForm.safeParse(withoutEmpty(values));
    if (!form.success)
      return this.renderer.fragment(
        res,
        h(BenchForm, { ctx, modelId: id, state: { values, errors: fieldErrors(form.error) } }),
        422,
      );
    const { datasetId, ...constraints } = form.data;
    try {
      const input = benchJobInput.parse({ modelId: id, ...(datasetId ? { datasetId } : {}), constraints });
      const job = await this.jobs.create('bench', input, req.user!);
      redirectAfterAction(req, res, `/ui/jobs/${job.id}`);
    } catch (e) {
      if (!(e instanceof ZodError)) throw e;
      this.renderer.fragment(res, h(BenchForm, { ctx, modelId: id, state: { values, errors: fieldErrors(e) } }), 422);
    }
  }

  @Post(':id/delete')
  @CanAct()
  async remove(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    await this.models.remove(id, req.user!);
    redirectAfterAction(req, res, '/ui/models');
  }
}
