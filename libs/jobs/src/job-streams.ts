import { JOB_TYPES, Streams, Subjects, type JobType } from '@cvp/contracts';
import { DiscardPolicy, type JetStreamManager, nanos, RetentionPolicy, StorageType, type StreamConfig } from 'nats';

const DAY_MS = 86_400_000;

/** Stream definitions of the job pipeline; every stream is bounded (count and age). */
export function jobStreamConfigs(): Partial<StreamConfig>[] {
  const perType = JOB_TYPES.map((t: JobType) => ({
    name: Streams.jobs(t),
    subjects: [Subjects.jobDispatch(t)],
    // Work queue: a dispatch is removed once a worker acked it.
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    max_msgs: 100_000,
    max_age: nanos(30 * DAY_MS),
    // A full queue refuses new dispatches (the gateway answers 503) rather than dropping old work.
    discard: DiscardPolicy.New,
    duplicate_window: nanos(120_000),
  }));
  return [
    ...perType,
    {
      name: Streams.jobEvents,
      subjects: [Subjects.jobProgressAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_msgs: 1_000_000,
      max_age: nanos(7 * DAY_MS),
      discard: DiscardPolicy.Old,
    },
    {
      name: Streams.deadLetter,
      subjects: [Subjects.jobDeadLetter],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_msgs: 100_000,
      max_age: nanos(30 * DAY_MS),
      discard: DiscardPolicy.Old,
    },
  ];
}

/** Creates (or leaves as they are) every job stream; both the gateway and the workers call it at start-up. */
export async function ensureJobStreams(jsm: JetStreamManager): Promise<void> {
  for (const cfg of jobStreamConfigs()) {
    try {
      await jsm.streams.info(cfg.name!);
    } catch {
      try {
        await jsm.streams.add(cfg);
      } catch (e) {
        // Another service created it between our info and add.
        if (!/already in use|already exists/i.test((e as Error).message)) throw e;
      }
    }
  }
}
