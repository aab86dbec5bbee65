import { BadRequestException, Get, Param, Query, Req, Res } from '@nestjs/common';
import type { BenchReport } from '@cvp/contracts';
import type { Response } from 'express';
import { h } from 'preact';
import { z } from 'zod';
import { BenchmarksService } from '../../benchmarks/benchmarks.service';
import { ModelsService } from '../../models/models.service';
import type { UiRequest } from '../session/ui-request';
import { CanView, UiController } from '../ui-controller';
import { setUiHeaders, UiRenderer } from '../ui-renderer';
import { BenchmarkPage, BenchmarksPage, ComparePage } from './benchmarks.view';

const benchmarkId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not a benchmark id');
const compareQuery = z.object({ a: benchmarkId, b: benchmarkId });
const REPORT_VIEWS = ['technical', 'simple'] as const;

/**
 * The bench reports as apps/bench wrote them, framed by the UI's pages (same origin): they are
 * self-contained (inline SVG and styles, no scripts), so their own CSP forbids everything else.
 */
const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'";

@UiController('ui/benchmarks')
export class UiBenchmarksController {
  constructor(
    private readonly benchmarks: BenchmarksService,
    private readonly models: ModelsService,
    private readonly renderer: UiRenderer,
  ) {}

  @Get()
  @CanView()
  async list(@Req() req: UiRequest, @Res() res: Response) {
    const benchmarks = await this.benchmarks.list(undefined, 100);
    const names = await this.modelNames(benchmarks.map((b) => b.modelId));
    this.renderer.page(res, h(BenchmarksPage, { ctx: this.renderer.context(req), benchmarks, models: names }));
  }

  @Get('compare')
  @CanView()
  async compare(@Query() query: Record<string, unknown>, @Req() req: UiRequest, @Res() res: Response) {
    const q = compareQuery.safeParse(query);
    if (!q.success) throw new BadRequestException('choose two benchmarks to compare (?a=&b=)');
    const [a, b] = await Promise.all([this.benchmarks.get(q.data.a), this.benchmarks.get(q.data.b)]);
    if (a.modelId !== b.modelId) throw new BadRequestException('only runs of the same model can be compared');
    const [ra, rb] = await Promise.all([this.reportOf(a.id), this.reportOf(b.id)]);
    this.renderer.page(res, h(ComparePage, { ctx: this.renderer.context(req), a, b, ra, rb }));
  }

  @Get(':id')
  @CanView()
  async detail(@Param('id') id: string, @Req() req: UiRequest, @Res() res: Response) {
    const benchmark = await this.benchmarks.get(benchmarkId.parse(id));
    const others = (await this.benchmarks.list(benchmark.modelId, 50)).filter((o) => o.id !== benchmark.id);
    const modelName = (await this.modelNames([benchmark.modelId])).get(benchmark.modelId) ?? benchmark.modelId;
    this.renderer.page(res, h(BenchmarkPage, { ctx: this.renderer.context(req), benchmark, others, modelName }));
  }

  @Get(':id/report/:view')
  @CanView()
  async report(@Param('id') id: string, @Param('view') view: string, @Res() res: Response) {
    const v = z.enum(REPORT_VIEWS).safeParse(view);
    if (!v.success) throw new BadRequestException('report view is technical or simple');
    const r = await this.benchmarks.report(benchmarkId.parse(id), v.data, 'html');
    setUiHeaders(res, REPORT_CSP);
    res.setHeader('X-Frame-Options', 'SAMEORIGIN');
    res
      .status(200)
      .type(r.contentType)
      .send(r.body as string);
  }

  private async reportOf(id: string): Promise<BenchReport> {
    return (await this.benchmarks.report(id, 'technical', 'json')).body as BenchReport;
  }

  private async modelNames(ids: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const id of new Set(ids)) {
      const m = await this.models.describe(id).catch(() => null);
      if (m) out.set(id, m.name);
    }
    return out;
  }
}
