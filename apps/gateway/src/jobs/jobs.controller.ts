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
import {
  ApiAcceptedResponse,
  ApiBody,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiExtraModels,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiTooManyRequestsResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import { JOB_STATES, JOB_TYPES } from '@cvp/contracts';
import type { JobType } from '@cvp/contracts';
import { Public, Roles } from '@cvp/platform';
import type { Request, Response } from 'express';
import { ownerFilter } from '../auth/ownership';
import { type AuthenticatedPrincipal, CurrentPrincipal } from '../auth/principal';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { JobSse } from './job-sse';
import { JobStreamTokens } from './job-stream-tokens';
import {
  JOB_INPUT_DTOS,
  JobPageDto,
  JobView,
  type ListJobsQuery,
  listJobsQuery,
  jobTypeParam,
  StreamTokenView,
} from './jobs.dto';
import { JobsService } from './jobs.service';

@ApiTags('jobs')
@ApiExtraModels(...JOB_INPUT_DTOS)
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
  @ApiOkResponse({ type: JobPageDto })
  @ApiQuery({ name: 'type', required: false, enum: JOB_TYPES })
  @ApiQuery({ name: 'state', required: false, enum: JOB_STATES })
  @ApiQuery({ name: 'owner', required: false, type: String, description: '"me" or a user id' })
  @ApiQuery({ name: 'page', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: '1-200, default 50' })
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
  @ApiParam({ name: 'type', enum: JOB_TYPES })
  @ApiBody({
    description: 'the input of that job type (convert, train, tune, bench, package)',
    schema: { oneOf: JOB_INPUT_DTOS.map((d) => ({ $ref: getSchemaPath(d) })) },
  })
  @ApiAcceptedResponse({ type: JobView, description: 'queued' })
  @ApiTooManyRequestsResponse({ description: 'CVP_USER_MAX_ACTIVE_JOBS jobs of yours queued or running (Retry-After)' })
  @ApiServiceUnavailableResponse({ description: 'the job could not be queued on NATS; retry' })
  create(
    @Param('type', new ZodValidationPipe(jobTypeParam)) type: JobType,
    @Body() body: unknown,
    @CurrentPrincipal() who: AuthenticatedPrincipal,
  ) {
    return this.jobs.create(type, body, who);
  }

  @Get(':id')
  @Roles('admin', 'engineer', 'viewer')
  @ApiOkResponse({ type: JobView })
  get(@Param('id', ParseUUIDPipe) id: string) {
    return this.jobs.get(id);
  }

  @Post(':id/cancel')
  @HttpCode(202)
  @Roles('admin', 'engineer')
  @ApiOperation({
    summary: 'Cancel a queued or running job; the worker stops its processes and releases its GPU lease',
  })
  @ApiAcceptedResponse({ type: JobView, description: 'cancelled' })
  @ApiConflictResponse({ description: 'the job already finished' })
  cancel(@Param('id', ParseUUIDPipe) id: string, @CurrentPrincipal() who: AuthenticatedPrincipal) {
    return this.jobs.cancel(id, who);
  }

  @Post(':id/events/token')
  @HttpCode(201)
  @Roles('admin', 'engineer', 'viewer')
  @ApiOperation({
    summary: "A short-lived token that opens this job's SSE stream only (EventSource cannot send Authorization)",
  })
  @ApiCreatedResponse({ type: StreamTokenView })
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
  @ApiQuery({ name: 'streamToken', required: true, type: String })
  @ApiQuery({ name: 'lastEventId', required: false, type: Number, description: 'resume after this event' })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'resume after this event (SSE reconnects)' })
  @ApiOkResponse({
    description:
      'text/event-stream: `state` and `progress` events, id = sequence number, data = JSON {jobId, seq, at, state?, progress?, stage?, detail?, result?, error?}; comment heartbeats; ends after the terminal state',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  })
  @ApiUnauthorizedResponse({ description: 'missing, expired or foreign stream token' })
  @ApiServiceUnavailableResponse({ description: 'too many event streams open; retry later' })
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
