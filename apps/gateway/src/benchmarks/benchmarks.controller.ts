import { BadRequestException, Controller, Get, Param, Query, Res } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiQuery, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { Roles } from '@cvp/platform';
import type { Response } from 'express';
import { ownerFilter } from '../auth/ownership';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { BenchmarksService } from './benchmarks.service';
import { BenchmarkDto, listBenchmarksQuery, reportQuery, SimpleReportDto } from './benchmarks.dto';

@ApiTags('benchmarks')
@ApiExtraModels(SimpleReportDto)
@Controller('benchmarks')
export class BenchmarksController {
  constructor(private readonly benchmarks: BenchmarksService) {}

  @Get()
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({ summary: 'Benchmarks, newest first, optionally of one model or owner' })
  @ApiOkResponse({ type: [BenchmarkDto] })
  @ApiQuery({ name: 'modelId', required: false, type: String })
  @ApiQuery({ name: 'owner', required: false, type: String, description: '"me" or a user id' })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-500, default 100' })
  list(@Query() query: Record<string, unknown>, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    const q = parseOr400(listBenchmarksQuery, query);
    return this.benchmarks.list(q.modelId, q.limit, ownerFilter(q.owner, who));
  }

  @Get(':id')
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({ summary: 'One benchmark: its selection and where its report lives' })
  @ApiOkResponse({ type: BenchmarkDto })
  get(@Param('id') id: string) {
    return this.benchmarks.get(id);
  }

  @Get(':id/report')
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({
    summary:
      'Benchmark report: technical (charts, every measurement) or simple (plain-language verdict), as JSON or HTML',
  })
  @ApiQuery({ name: 'view', required: false, enum: ['technical', 'simple'], description: 'default technical' })
  @ApiQuery({ name: 'format', required: false, enum: ['json', 'html'], description: 'default json' })
  @ApiOkResponse({
    description:
      'simple+json: the verdict; technical+json: the whole report (every step, candidate, measurement and the decision record); html: a self-contained page with charts',
    content: {
      'application/json': {
        schema: {
          oneOf: [
            { $ref: getSchemaPath(SimpleReportDto) },
            { type: 'object', additionalProperties: true, description: 'technical report (BenchReport)' },
          ],
        },
      },
      'text/html': { schema: { type: 'string' } },
    },
  })
  async report(@Param('id') id: string, @Query() query: Record<string, unknown>, @Res() res: Response) {
    const q = parseOr400(reportQuery, query);
    const r = await this.benchmarks.report(id, q.view, q.format);
    res.status(200).type(r.contentType);
    if (typeof r.body === 'string') {
      // Reports are self-contained (inline SVG, no scripts): forbid anything remote.
      res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
      res.send(r.body);
    } else {
      res.send(JSON.stringify(r.body));
    }
  }
}

function parseOr400<T>(
  schema: {
    safeParse(
      v: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: { path: (string | number)[]; message: string }[] } };
  },
  v: unknown,
): T {
  const r = schema.safeParse(v);
  if (!r.success)
    throw new BadRequestException(r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return r.data;
}
