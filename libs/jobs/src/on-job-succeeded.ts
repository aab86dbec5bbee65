import { Injectable, type OnModuleInit, SetMetadata } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import {
  issuesOf,
  jobInputSchemas,
  type JobInputs,
  type JobResults,
  type JobType,
  parseJobResult,
} from '@cvp/contracts';
import { InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import { findDecoratedMethods } from './decorated-methods';

const ON_JOB_SUCCEEDED = 'cvp:on-job-succeeded';

/** A job a worker reported succeeded, with its input and result parsed by their contracts. */
export interface SucceededJob<T extends JobType> {
  readonly type: T;
  readonly id: string;
  readonly ownerId: string;
  readonly input: JobInputs[T];
  readonly result: JobResults[T];
}

/** A SucceededJob of one of the types T; a hook for several types narrows it on `type`. */
export type SucceededJobOf<T extends JobType> = { [K in T]: SucceededJob<K> }[T];

/** Fields a hook adds to the job's stored result (the id of the row it made, a URL...). */
export type JobHookOutput = Record<string, unknown> | void;

/**
 * Marks a provider method that turns a succeeded job of these types into the feature's own rows
 * (a model version, a benchmark, a package). JobQueueModule finds it at start-up. It runs before
 * the job is stored as succeeded; what it returns is merged into the stored result, and when it
 * throws the job is stored failed with its message.
 */
export function OnJobSucceeded<T extends JobType>(...types: [T, ...T[]]) {
  return <M extends (job: SucceededJobOf<T>) => Promise<JobHookOutput>>(
    target: object,
    key: string | symbol,
    descriptor: TypedPropertyDescriptor<M>,
  ) => {
    SetMetadata(ON_JOB_SUCCEEDED, types)(target, key, descriptor);
  };
}

type Hook = (job: SucceededJob<JobType>) => Promise<JobHookOutput>;

/** The @OnJobSucceeded methods of the application, by job type, and the one place that runs them. */
@Injectable()
export class JobSucceededHooks implements OnModuleInit {
  private readonly hooks = new Map<JobType, { name: string; run: Hook }[]>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  onModuleInit(): void {
    for (const m of findDecoratedMethods<JobType[]>(this.discovery, this.scanner, this.reflector, ON_JOB_SUCCEEDED)) {
      for (const type of m.meta) {
        const list = this.hooks.get(type) ?? [];
        list.push({ name: m.name, run: m.call as unknown as Hook });
        this.hooks.set(type, list);
      }
    }
    this.logger.debug(
      { hooks: Object.fromEntries([...this.hooks].map(([t, l]) => [t, l.map((h) => h.name)])) },
      'job succeeded hooks found',
    );
  }

  /**
   * Parses the stored input and the worker's result against their contracts, runs the type's hooks
   * in order and returns the result to store: the parsed result plus what the hooks added. Throws
   * when the result does not match its contract (the message names the fields) or a hook throws.
   */
  async run<T extends JobType>(
    type: T,
    job: { id: string; ownerId: string; input: unknown },
    result: unknown,
  ): Promise<Record<string, unknown>> {
    const parsedResult = parseJobResult(type, result);
    const parsedInput = jobInputSchemas[type].safeParse(job.input);
    if (!parsedInput.success)
      throw new Error(`${type} job ${job.id}: stored input rejected: ${issuesOf(parsedInput.error).join('; ')}`);
    const succeeded = {
      type,
      id: job.id,
      ownerId: job.ownerId,
      input: parsedInput.data,
      result: parsedResult,
    } as SucceededJob<JobType>;
    let stored: Record<string, unknown> = { ...parsedResult };
    for (const hook of this.hooks.get(type) ?? []) {
      const added = await hook.run(succeeded);
      if (added) stored = { ...stored, ...added };
    }
    return stored;
  }

  /** Replaces the hooks of a type: for tests that stand in for the feature owning that type. */
  replaceForTest<T extends JobType>(type: T, hook: (job: SucceededJob<T>) => Promise<JobHookOutput>): void {
    this.hooks.set(type, [{ name: 'test', run: hook as unknown as Hook }]);
  }
}
