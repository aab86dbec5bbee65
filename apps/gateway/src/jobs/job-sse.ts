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
 * live ones, with comment heartbeats; the stream ends after the job's terminal event. Any gateway
 * serves any job: events stored here are written as they come, events stored by another gateway
 * are read from the database when its notice wakes the stream (and every CVP_JOB_SSE_POLL_MS in
 * case a notice was lost), so the stream never skips a seq.
 */
@Injectable()
export class JobSse {
  private readonly heartbeatMs: number;
  private readonly maxStreams: number;
  private readonly pollMs: number;

  constructor(
    private readonly jobs: JobsService,
    private readonly hub: JobEventHub,
    @InjectConfig() config: Record<string, unknown>,
  ) {
    const s = jobsConfig(config);
    this.heartbeatMs = s.CVP_JOB_SSE_HEARTBEAT_MS;
    this.maxStreams = s.CVP_JOB_SSE_MAX_STREAMS;
    this.pollMs = s.CVP_JOB_SSE_POLL_MS;
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
    const write = (e: JobEventView) => {
      if (closed || e.seq <= sent) return;
      sent = e.seq;
      const { seq, ...data } = e;
      res.write(
        `id: ${seq}\nevent: ${e.state ? 'state' : 'progress'}\ndata: ${JSON.stringify({ jobId, seq, ...data })}\n\n`,
      );
      if (e.state && TERMINAL_JOB_STATES.includes(e.state)) close();
    };
    // Reads what the database has after `sent`; one read at a time, another round when woken meanwhile.
    let reading: Promise<void> | undefined;
    let again = false;
    const catchUp = (): Promise<void> => {
      if (reading) {
        again = true;
        return reading;
      }
      reading = (async () => {
        do {
          again = false;
          for (;;) {
            const page = await this.jobs.eventsAfter(jobId, sent, 500);
            for (const e of page) write(e);
            if (page.length < 500 || closed) break;
          }
        } while (again && !closed);
      })()
        .catch(() => undefined) // the next wake-up or poll reads again
        .finally(() => (reading = undefined));
      return reading;
    };
    const unsubscribe = this.hub.subscribe(jobId, {
      // The next event in order is written at once; anything else (a gap, a replay running) reads the log.
      event: (e) => (!reading && e.seq === sent + 1 ? write(e) : void catchUp()),
      wake: () => void catchUp(),
    });
    const heartbeat = setInterval(() => res.write(`: heartbeat ${new Date().toISOString()}\n\n`), this.heartbeatMs);
    const poll = setInterval(() => void catchUp(), this.pollMs);
    const close = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      clearInterval(poll);
      unsubscribe();
      res.end();
    };
    req.once('close', close);

    // Subscribed before reading history, so nothing falls between the two; `sent` drops duplicates.
    await catchUp();
    // A finished job whose terminal event the client already has: nothing more will come.
    if (
      !closed &&
      TERMINAL_JOB_STATES.includes(job.state) &&
      (await this.jobs.eventsAfter(jobId, sent, 1)).length === 0
    )
      close();
  }
}
