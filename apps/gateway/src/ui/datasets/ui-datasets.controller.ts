import { Get, HttpException, Param, ParseUUIDPipe, Post, Req, Res, UseInterceptors } from '@nestjs/common';
import { DATASET_FORMATS } from '@cvp/contracts';
import type { Response } from 'express';
import { h } from 'preact';
import { z } from 'zod';
import { stagedUpload, type UploadRequest } from '../../common/upload/single-file-upload.interceptor';
import { DatasetUploadInterceptor } from '../../datasets/datasets.controller';
import { DatasetsService } from '../../datasets/datasets.service';
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
import { DatasetPage, DatasetsPage, DatasetUploadForm } from './datasets.view';

const uploadFields = z
  .object({
    format: z.enum(DATASET_FORMATS, { message: 'yolo or imagefolder' }),
    name: z.string().min(1).max(200).optional(),
  })
  .strict();

@UiController('ui/datasets')
export class UiDatasetsController {
  constructor(
    private readonly datasets: DatasetsService,
    private readonly renderer: UiRenderer,
  ) {}

  @Get()
  @CanView()
  async list(@Req() req: UiRequest, @Res() res: Response) {
    const page = await this.datasets.list({ page: 1, limit: 100 });
    this.renderer.page(res, h(DatasetsPage, { ctx: this.renderer.context(req), datasets: page.items }));
  }

  /**
   * The same upload as POST /api/v1/datasets. A set that extracts but fails validation is kept
   * with its report: the browser is taken to that report, problems listed per file.
   */
  @Post()
  @CanAct()
  @UseInterceptors(DatasetUploadInterceptor)
  async upload(@Req() req: UploadRequest & UiRequest, @Res() res: Response) {
    const values = formFields(req.body);
    const staged = stagedUpload(req);
    const fields = uploadFields.safeParse(withoutEmpty(values));
    const errors = fields.success ? {} : fieldErrors(fields.error);
    if (!staged) errors.file = 'choose a zip archive';
    if (!fields.success || !staged) return this.renderer.fragment(res, h(DatasetUploadForm, { values, errors }), 422);
    try {
      const d = await this.datasets.upload(staged, fields.data, req.user!.ownerId);
      redirectAfterAction(req, res, `/ui/datasets/${d.id}`);
    } catch (e) {
      if (!(e instanceof HttpException) || e.getStatus() >= 500) throw e;
      const body = e.getResponse() as { datasetId?: unknown };
      if (typeof body?.datasetId === 'string') return redirectAfterAction(req, res, `/ui/datasets/${body.datasetId}`);
      this.renderer.fragment(res, h(DatasetUploadForm, { values, errors: { file: e.message } }), e.getStatus());
    }
  }

  @Get(':id')
  @CanView()
  async detail(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    this.renderer.page(res, h(DatasetPage, { ctx: this.renderer.context(req), dataset: await this.datasets.get(id) }));
  }
}
