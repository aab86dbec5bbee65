import { Get, Param, ParseUUIDPipe, Post, Query, Req, Res, ServiceUnavailableException } from '@nestjs/common';
import { InjectConfig } from '@cvp/platform';
import type { Response } from 'express';
import { h, type VNode } from 'preact';
import { render } from 'preact-render-to-string';
import type { GatewayConfig } from '../../config';
import { JobEventHub } from '../../jobs/job-event-hub';
import { jobsConfig } from '../../jobs/jobs.config';
import { type ListJobsQuery, listJobsQuery } from '../../jobs/jobs.dto';
import { JobsService } from '../../jobs/jobs.service';
import type { UiRequest } from '../session/ui-request';
import { CanAct, CanView, redirectAfterAction, UiController } from '../ui-controller';
import { setUiHeaders, UiRenderer } from '../ui-renderer';
import { isTerminal, JobPage, JobsPage, JobStatus, JobsTable, TrainingCurves, TuningTrials } from './jobs.view';

/** Bursts of worker events (epochs, trials) are rendered at most this often per stream. */
const RENDER_EVERY_MS = 250;
const MAX_EVENTS_READ = 5000;

/** The list's filter as query parameters (only those set). */
export const filterParams = (q: { type?: string; state?: string }) =>
  new URLSearchParams(
    Object.fromEntries(Object.entries({ type: q.type, state: q.state }).filter(([, v]) => !!v)) as Record<
      string,
      string
    >,
  );

/** One SSE event whose data is an HTML fragment (htmx's SSE extension swaps it into the element listening for it). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any component's props
export function sseEvent(event: string, view: VNode<any> | string): string {
  const html = typeof view === 'string' ? view : render(view);
  return `event: ${event}\ndata: ${html.replace(/\r?\n/g, '\ndata: ')}\n\n`;
}

@UiController('ui/jobs')
export class UiJobsController {
  private readonly heartbeatMs: number;
  private readonly maxStreams: number;

  constructor(
    private readonly jobs: JobsService,
    private readonly hub: JobEventHub,
    private readonly renderer: UiRenderer,
    @InjectConfig() config: GatewayConfig,
  ) {
    const c = jobsConfig(config as unknown as Record<string, unknown>);
    this.heartbeatMs = c.CVP_JOB_SSE_HEARTBEAT_MS;
    this.maxStreams = c.CVP_JOB_SSE_MAX_STREAMS;
  }

  @Get()
  @CanView()
  async list(@Query() query: Record<string, unknown>, @Req() req: UiRequest, @Res() res: Response) {
    const q = this.filter(query);
    const page = await this.jobs.list(q);
    this.renderer.page(
      res,
      h(JobsPage, {
        ctx: this.renderer.context(req),
        jobs: page.items,
        total: page.total,
        filter: { type: q.type, state: q.state },
      }),
    );
  }

  /** The table alone, polled by the list page. */
  @Get('table')
  @CanView()
  async table(@Query() query: Record<string, unknown>, @Req() req: UiRequest, @Res() res: Response) {
    const q = this.filter(query);
    const page = await this.jobs.list(q);
    const ctx = this.renderer.context(req);
    this.renderer.fragment(
      res,
      h(
        'div',
        {
          id: 'jobs-table',
          'hx-get': `/ui/jobs/table?${filterParams(q)}`,
          'hx-trigger': `every ${ctx.refreshMs}ms`,
          'hx-swap': 'outerHTML',
        },
        h(JobsTable, { jobs: page.items }),
      ),
    );
  }

  @Get(':id')
  @CanView()
  async detail(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    const job = await this.jobs.get(id);
    const events =
      job.type === 'train' || job.type === 'tune' ? await this.jobs.eventsAfter(id, 0, MAX_EVENTS_READ) : [];
    this.renderer.page(res, h(JobPage, { ctx: this.renderer.context(req), job, events }));
  }

  /**
   * The job page's live stream (same origin, signed in by the session cookie): after each worker
   * event, the status block and (train/tune) the curves or trials as HTML; `done` after the terminal
   * state, which closes the page's EventSource. Bounded like the REST streams, with heartbeats.
   */
  @Get(':id/stream')
  @CanView()
  async stream(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    if (this.hub.streams >= this.maxStreams)
      throw new ServiceUnavailableException('too many event streams open; retry later');
    const first = await this.jobs.get(id); // 404 before any byte
    const ctx = this.renderer.context(req);
    setUiHeaders(res);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write('retry: 2000\n\n');

    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    let rendering = false;
    let again = false;
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      clearTimeout(timer);
      unsubscribe();
      res.end();
    };
    const push = async () => {
      if (closed) return;
      if (rendering) {
        again = true;
        return;
      }
      rendering = true;
      try {
        const job = await this.jobs.get(id);
        if (closed) return;
        res.write(sseEvent('status', h(JobStatus, { ctx, job })));
        if (job.type === 'train' || job.type === 'tune') {
          const events = await this.jobs.eventsAfter(id, 0, MAX_EVENTS_READ);
          if (closed) return;
          res.write(
            job.type === 'train'
              ? sseEvent('curves', h('div', {}, h('h2', {}, 'Training curves'), h(TrainingCurves, { events })))
              : sseEvent('trials', h('div', {}, h('h2', {}, 'Trials'), h(TuningTrials, { job, events }))),
          );
        }
        if (isTerminal(job)) {
          res.write(sseEvent('done', job.state));
          close();
        }
      } catch {
        close(); // the job was deleted meanwhile, or the database is gone: the page reconnects or shows the last state
      } finally {
        rendering = false;
        if (again && !closed) {
          again = false;
          schedule();
        }
      }
    };
    const schedule = () => {
      if (closed || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        void push();
      }, RENDER_EVERY_MS);
    };
    // Re-rendered from the database either way, so events stored by another gateway count too.
    const unsubscribe = this.hub.subscribe(id, { event: schedule, wake: schedule });
    const heartbeat = setInterval(() => res.write(`: heartbeat ${new Date().toISOString()}\n\n`), this.heartbeatMs);
    req.once('close', close);
    // Whatever happened between the page's render and this subscription is sent at once.
    if (isTerminal(first)) await push();
    else schedule();
  }

  @Post(':id/cancel')
  @CanAct()
  async cancel(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    await this.jobs.cancel(id, req.user!);
    redirectAfterAction(req, res, `/ui/jobs/${id}`);
  }

  private filter(query: Record<string, unknown>): ListJobsQuery {
    const cleaned = Object.fromEntries(
      Object.entries(query).filter(([k, v]) => (k === 'type' || k === 'state') && v !== ''),
    );
    return listJobsQuery.parse({ ...cleaned, page: 1, limit: 100 });
  }
}
