import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { InferenceLookups } from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import type { Logger } from 'pino';
import { CpuProfiler } from './cpu-profiler';

/**
 * Answers cvp.inference.profile.cpu: a CPU profile of this replica while a benchmark loads it.
 * Replicas share a queue group, so one of them answers each request.
 */
@Injectable()
export class CpuProfileResponder implements OnApplicationBootstrap {
  constructor(
    private readonly bus: MessageBus,
    private readonly profiler: CpuProfiler,
    @InjectLogger() private readonly log: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const { subject, request, reply } = InferenceLookups.cpuProfile;
    this.bus.subscribe(
      request,
      subject,
      async (req, msg) => {
        try {
          const profile = await this.profiler.profile(req.durationMs, req.top);
          this.bus.respond(msg, reply, { ok: true, pid: process.pid, profile });
        } catch (e) {
          this.log.warn({ err: e }, 'CPU profile failed');
          this.bus.respond(msg, reply, { ok: false, pid: process.pid, error: (e as Error).message });
        }
      },
      { queue: 'inference' },
    );
  }
}
