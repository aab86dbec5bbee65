import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
  Res,
  UnauthorizedException,
} from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { JobType } from '@cvp/contracts';
import { Public, Roles } from '@cvp/platform';
import type { Request, Response } from 'express';
import { ownerFilter } from '../auth/ownership';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { JobSse } from './job-sse';
import { JobStreamTokens } from './job-stream-tokens';
import { JobView, type ListJobsQuery, listJobsQuery, jobTypeParam, StreamTokenView } from './jobs.dto';
import { JobsService } from './jobs.service';

@ApiTags('jobs')
@Controller('jobs')
export class JobsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly tokens: JobStreamTokens,
    private readonly sse: JobSse,
  ) {}

  @Get()
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({
    summary: 'Jobs, newest first; filter by ?type=, ?state= and ?owner=me|<user id>; paginated (?page=&limit=)',
  })
  list(@Query(new ZodValidationPipe(listJobsQuery)) q: ListJobsQuery, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    return this.jobs.list(q, ownerFilter(q.owner, who));
  }

  @Post(':type')
  @HttpCode(202)
  @Roles('admin', 'engineer')
  @ApiOperation({
    summary:
      "Start a job: convert, train, tune, bench or package (body: that type's input, camelCase; unknown fields refused)",
  })
  @ApiResponse({ status: 202, type: JobView })
  create(
    @Param('type', new ZodValidationPipe(jobTypeParam)) type: JobType,
    @Body() body: unknown,
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.jobs.create(type, body, who);
  }

  @Get(':id')
  @Roles('admin', 'engineer', 'viewer')
  @ApiResponse({ status: 200, type: JobView })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.jobs.get(id);
  }

  @Post(':id/cancel')
  @HttpCode(202)
  @Roles('admin', 'engineer')
  @ApiOperation({
    summary: 'Cancel a queued or running job; the worker stops its processes and releases its GPU lease',
  })
  cancel(@Param('id', ParseUUIDPipe) id: string, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    return this.jobs.cancel(id, who);
  }

  @Post(':id/events/token')
  @HttpCode(201)
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({
    summary: "A short-lived token that opens this job's SSE stream only (EventSource cannot send Authorization)",
  })
  @ApiResponse({ status: 201, type: StreamTokenView })
  async streamToken(
    @Param('id', ParseUUIDPipe) id: string,
    @CurrentPrincipal() who?: AuthenticatedPrincipal,
  ): Promise<StreamTokenView> {
    await this.jobs.get(id);
    const t = this.tokens.issue(id, who?.id ?? 'anonymous');
    return {
      streamToken: t.token,
      expiresAt: t.expiresAt.toISOString(),
      url: `/api/v1/jobs/${id}/events?streamToken=${t.token}`,
    };
  }

  /** Authenticated by the stream token (checked here), not by the bearer guard. */
  @Get(':id/events')
  @Public()
  @ApiOperation({
    summary:
      'Job progress as Server-Sent Events (?streamToken= from POST /jobs/:id/events/token); resumes after Last-Event-ID',
  })
  async events(
    @Param('id', ParseUUIDPipe) id: string,
    @Query('streamToken') streamToken: string | undefined,
    @Query('lastEventId') lastEventIdQuery: string | undefined,
    @Headers('last-event-id') lastEventIdHeader: string | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    if (!this.tokens.verify(streamToken, id))
      throw new UnauthorizedException('missing, expired or foreign stream token');
    const last = Number.parseInt(lastEventIdHeader ?? lastEventIdQuery ?? '0', 10);
    await this.sse.stream(id, Number.isFinite(last) && last > 0 ? last : 0, req, res);
  }
}
