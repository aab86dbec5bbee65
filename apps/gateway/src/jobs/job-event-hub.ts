import { Injectable } from '@nestjs/common';
import type { JobEventView } from './jobs.dto';

type Listener = (e: JobEventView) => void;

/** In-process fan-out of stored job events to the SSE streams watching that job. */
@Injectable()
export class JobEventHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private count = 0;

  get streams(): number {
    return this.count;
  }

  subscribe(jobId: string, listener: Listener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    this.count++;
    return () => {
      if (set.delete(listener)) this.count--;
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }

  publish(jobId: string, e: JobEventView): void {
    for (const l of this.listeners.get(jobId) ?? []) l(e);
  }
}
