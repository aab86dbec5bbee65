import { Session } from 'node:inspector/promises';
import { Injectable } from '@nestjs/common';
import type { CpuProfileSummary } from '@cvp/contracts';
import { summarizeCpuProfile, type V8CpuProfile } from '@cvp/measure';

/** Raised when a profile is asked for while another one runs (one at a time per process). */
export class ProfilerBusyError extends Error {}

/**
 * V8's sampling CPU profiler on this process's main thread, one profile at a time, for a bounded
 * time, summarised to the functions with the most self time. Worker threads (ort-node sessions)
 * and native code off the main thread (libvips, the native core) show as idle here.
 */
@Injectable()
export class CpuProfiler {
  private running = false;

  async profile(durationMs: number, top: number, signal?: AbortSignal): Promise<CpuProfileSummary> {
    if (this.running) throw new ProfilerBusyError('a CPU profile is already being taken in this process');
    this.running = true;
    const session = new Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      // 1 ms: fine enough for request handlers of a few ms, cheap enough to leave the timings alone.
      await session.post('Profiler.setSamplingInterval', { interval: 1000 });
      await session.post('Profiler.start');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, durationMs);
        signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      const { profile } = (await session.post('Profiler.stop')) as { profile: V8CpuProfile };
      return summarizeCpuProfile(profile, top);
    } finally {
      await session.post('Profiler.disable').catch(() => undefined);
      session.disconnect();
      this.running = false;
    }
  }
}
