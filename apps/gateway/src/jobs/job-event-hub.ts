import { Injectable } from '@nestjs/common';
import type { JobEventView } from './jobs.dto';

/** What watches one job: stored events of this process, and wake-ups for events stored elsewhere. */
export interface JobEventListener {
  /** An event this gateway just stored (in seq order per job). */
  event(e: JobEventView): void;
  /** Another gateway stored an event of the job: read it from the database. */
  wake(): void;
}
type Tap = (jobId: string, e: JobEventView) => void;

/**
 * In-process fan-out to the SSE streams watching a job. Events stored here are handed over as
 * they are; events stored by another gateway arrive as wake-ups (jobs.publisher.ts relays them
 * over NATS), and the streams read those from the database, which every gateway shares.
 */
@Injectable()
export class JobEventHub {
  private readonly listeners = new Map<string, Set<JobEventListener>>();
  private readonly taps = new Set<Tap>();
  private count = 0;

  get streams(): number {
    return this.count;
  }

  subscribe(jobId: string, listener: JobEventListener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    this.count++;
    return () => {
      if (set.delete(listener)) this.count--;
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }

  /** An event this gateway stored (after its transaction committed). */
  publish(jobId: string, e: JobEventView): void {
    for (const l of this.listeners.get(jobId) ?? []) l.event(e);
    for (const t of this.taps) t(jobId, e);
  }

  /** Another gateway stored an event of this job. */
  wake(jobId: string): void {
    for (const l of this.listeners.get(jobId) ?? []) l.wake();
  }

  /** Sees every event stored here (the publisher tells the other gateways). */
  tap(fn: Tap): () => void {
    this.taps.add(fn);
    return () => this.taps.delete(fn);
  }
}
