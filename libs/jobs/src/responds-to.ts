import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  SetMetadata,
} from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { RequestReplyContract } from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import type { Subscription } from 'nats';
import type { Logger } from 'pino';
import { findDecoratedMethods } from './decorated-methods';
import { JOB_QUEUE_OPTIONS, type ResolvedJobQueueOptions } from './job-queue.options';

const RESPONDS_TO = 'cvp:responds-to';

/** A reply as a responder writes it (the bus adds the schema version). */
export type ReplyBody<Res> = Omit<Res, 'schemaVersion'>;

export interface RespondsToOptions<Req, Res> {
  /** The answer when the method throws; without it nothing is answered and the asker's timeout (then its retry) applies. */
  onError?: (req: Req) => ReplyBody<Res>;
}

interface ResponderMeta {
  lookup: RequestReplyContract<unknown, unknown>;
  options: RespondsToOptions<unknown, unknown>;
}

/**
 * Marks a provider method that answers a NATS request-reply (a registry lookup, the workers' job
 * status check). JobQueueModule subscribes it at start-up, in one queue group, so one process of
 * the service answers each request; both payloads are validated against the contract.
 */
export function RespondsTo<Req, Res>(
  lookup: RequestReplyContract<Req, Res>,
  options: RespondsToOptions<Req, Res> = {},
) {
  return <M extends (req: Req) => Promise<ReplyBody<Res>>>(
    target: object,
    key: string | symbol,
    descriptor: TypedPropertyDescriptor<M>,
  ) => {
    SetMetadata(RESPONDS_TO, { lookup, options })(target, key, descriptor);
  };
}

/** Subscribes every @RespondsTo method of the application (and unsubscribes them at shutdown). */
@Injectable()
export class Responders implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subs: Subscription[] = [];

  constructor(
    private readonly bus: MessageBus,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    @InjectLogger() private readonly logger: Logger,
    @Inject(JOB_QUEUE_OPTIONS) private readonly options: ResolvedJobQueueOptions,
  ) {}

  onApplicationBootstrap(): void {
    const found = findDecoratedMethods<ResponderMeta>(this.discovery, this.scanner, this.reflector, RESPONDS_TO);
    // Two answerers of one subject would race each other: refuse to start before anything subscribes.
    const bySubject = new Map<string, string>();
    for (const r of found) {
      const other = bySubject.get(r.meta.lookup.subject);
      if (other) throw new Error(`${other} and ${r.name} both respond to ${r.meta.lookup.subject}`);
      bySubject.set(r.meta.lookup.subject, r.name);
    }
    for (const r of found) {
      const { lookup, options } = r.meta;
      const answer = r.call as unknown as (req: unknown) => Promise<ReplyBody<unknown>>;
      this.subs.push(
        this.bus.subscribe(
          lookup.request,
          lookup.subject,
          async (req, msg) => {
            let reply: ReplyBody<unknown>;
            try {
              reply = await answer(req);
            } catch (e) {
              this.logger.error({ err: e, subject: lookup.subject, responder: r.name }, 'responder failed');
              if (!options.onError) return;
              reply = options.onError(req);
            }
            this.bus.respond(msg, lookup.reply, reply);
          },
          { queue: this.options.responderQueue },
        ),
      );
    }
    this.logger.debug({ subjects: [...bySubject.keys()] }, 'responders subscribed');
  }

  beforeApplicationShutdown(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }
}
