import { Injectable, ServiceUnavailableException } from '@nestjs/common';
import { TERMINAL_JOB_STATES } from '@cvp/contracts';
import { InjectConfig } from '@cvp/platform';
import type { Request, Response } from 'express';
import { JobEventHub } from './job-event-hub';
import type { JobEventView } from './jobs.dto';
import { jobsConfig } from './jobs.config';
import { JobsService } from './jobs.service';

/**
 * Serves one job's events as Server-Sent Events: the stored events after Last-Event-ID first, then
 * live ones, with comment heartbeats; the stream ends after the job's terminal event.
 */
@Injectable()
export class JobSse {
  private readonly heartbeatMs: number;
  private readonly maxStreams: number;

  constructor(
    private readonly jobs: JobsService,
    private readonly hub: JobEventHub,
    @InjectConfig() config: Record<string, unknown>,
  ) {
    const s = jobsConfig(config);
    this.heartbeatMs = s.CVP_JOB_SSE_HEARTBEAT_MS;
    this.maxStreams = s.CVP_JOB_SSE_MAX_STREAMS;
  }

  async stream(jobId: string, lastEventId: number, req: Request, res: Response): Promise<void> {
    if (this.hub.streams >= this.maxStreams)
      throw new ServiceUnavailableException('too many event streams open; retry later');
    const job = await this.jobs.get(jobId); // 404 before any byte is sent
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.write('retry: 2000\n\n');

    let sent = lastEventId;
    let closed = false;
    const buffered: JobEventView[] = [];
    let replaying = true;
    const write = (e: JobEventView) => {
      if (closed || e.seq <= sent) return;
      sent = e.seq;
      const { seq, ...data } = e;
      res.write(
        `id: ${seq}\nevent: ${e.state ? 'state' : 'progress'}\ndata: ${JSON.stringify({ jobId, seq, ...data })}\n\n`,
      );
      if (e.state && TERMINAL_JOB_STATES.includes(e.state)) close();
    };
    const unsubscribe = this.hub.subscribe(jobId, (e) => (replaying ? buffered.push(e) : write(e)));
    const heartbeat = setInterval(() => res.write(`: heartbeat ${new Date().toISOString()}\n\n`), this.heartbeatMs);
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      res.end();
    };
    req.once('close', close);

    // Subscribed before reading history, so nothing falls between the two; `sent` drops duplicates.
    for (;;) {
      const page = await this.jobs.eventsAfter(jobId, sent, 500);
      for (const e of page) write(e);
      if (page.length < 500 || closed) break;
    }
    replaying = false;
    for (const e of buffered.splice(0)) write(e);
    // A finished job whose terminal event the client already has: nothing more will come.
    if (
      !closed &&
      TERMINAL_JOB_STATES.includes(job.state) &&
      (await this.jobs.eventsAfter(jobId, sent, 1)).length === 0
    )
      close();
  }
}
