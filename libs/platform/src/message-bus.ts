import {
  connect,
  headers as natsHeaders,
  type JetStreamClient,
  type JetStreamManager,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from 'nats';
import type { Logger } from 'pino';
import {
  ContractViolationError,
  decodeMessage,
  encodeMessage,
  type MessageContract,
  SCHEMA_VERSION,
} from '@cvp/contracts';
import { CORRELATION_HEADER, currentCorrelationId, withCorrelation } from './correlation';
import { contractRejections } from './metrics';

export interface BusOptions {
  url: string;
  name: string;
  logger: Logger;
  /** Bound on the initial connection attempts. */
  connectTimeoutMs?: number;
}

export type Handler<T> = (payload: T, msg: Msg) => Promise<void> | void;
type Outgoing<T> = Omit<T, 'schemaVersion'> & { schemaVersion?: typeof SCHEMA_VERSION };

/**
 * The one NATS client wrapper of every service: every payload is validated against its
 * contract when sent and when received; rejected messages are logged, counted and never handled.
 */
export class MessageBus {
  private nc?: NatsConnection;
  private readonly subs: Subscription[] = [];

  constructor(private readonly opts: BusOptions) {}

  async connect(): Promise<void> {
    if (this.nc) return;
    this.nc = await connect({
      servers: this.opts.url,
      name: this.opts.name,
      timeout: this.opts.connectTimeoutMs ?? 5000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
    this.opts.logger.info({ url: this.opts.url }, 'connected to NATS');
  }

  get connection(): NatsConnection {
    if (!this.nc) throw new Error('MessageBus used before connect()');
    return this.nc;
  }

  isConnected(): boolean {
    return !!this.nc && !this.nc.isClosed() && this.nc.status !== undefined && !this.nc.isDraining();
  }

  jetstream(): JetStreamClient {
    return this.connection.jetstream();
  }

  jetstreamManager(): Promise<JetStreamManager> {
    return this.connection.jetstreamManager();
  }

  /** Validates and encodes, filling the schema version and the current correlation id. */
  encode<T>(c: MessageContract<T>, payload: Outgoing<T>): Uint8Array {
    const full = { ...payload, schemaVersion: SCHEMA_VERSION } as Record<string, unknown>;
    if (full.correlationId === undefined) {
      const cid = currentCorrelationId();
      if (cid) full.correlationId = cid;
    }
    try {
      return encodeMessage(c, full as T);
    } catch (e) {
      if (e instanceof ContractViolationError) contractRejections.inc({ contract: c.name, direction: 'outbound' });
      throw e;
    }
  }

  /** Decodes and validates; on a violation counts and logs it and returns undefined. */
  decode<T>(c: MessageContract<T>, data: Uint8Array, subject: string): T | undefined {
    try {
      return decodeMessage(c, data);
    } catch (e) {
      if (!(e instanceof ContractViolationError)) throw e;
      contractRejections.inc({ contract: c.name, direction: 'inbound' });
      this.opts.logger.warn({ subject, contract: c.name, issues: e.issues }, 'rejected invalid message');
      return undefined;
    }
  }

  headersFor(): MsgHdrs {
    const h = natsHeaders();
    const cid = currentCorrelationId();
    if (cid) h.set(CORRELATION_HEADER, cid);
    return h;
  }

  publish<T>(c: MessageContract<T>, subject: string, payload: Outgoing<T>): void {
    this.connection.publish(subject, this.encode(c, payload), { headers: this.headersFor() });
  }

  /** Publishes to JetStream and waits for the stream's ack (at-least-once). */
  async publishDurable<T>(c: MessageContract<T>, subject: string, payload: Outgoing<T>, msgID?: string): Promise<void> {
    await this.jetstream().publish(subject, this.encode(c, payload), { headers: this.headersFor(), msgID });
  }

  subscribe<T>(
    c: MessageContract<T>,
    subject: string,
    handler: Handler<T>,
    opts: { queue?: string } = {},
  ): Subscription {
    const sub = this.connection.subscribe(subject, { queue: opts.queue });
    this.subs.push(sub);
    void (async () => {
      for await (const msg of sub) {
        const payload = this.decode(c, msg.data, msg.subject);
        if (payload === undefined) {
          if (msg.reply) msg.respond(new TextEncoder().encode(JSON.stringify({ error: 'invalid payload' })));
          continue;
        }
        const cid = (payload as { correlationId?: string }).correlationId ?? msg.headers?.get(CORRELATION_HEADER);
        await withCorrelation(cid, async () => {
          try {
            await handler(payload, msg);
          } catch (e) {
            this.opts.logger.error({ err: e, subject: msg.subject }, 'message handler failed');
          }
        });
      }
    })();
    return sub;
  }

  /** Request-reply with both ends validated; always bounded by timeoutMs. */
  async request<Req, Res>(
    reqC: MessageContract<Req>,
    resC: MessageContract<Res>,
    subject: string,
    payload: Outgoing<Req>,
    timeoutMs: number,
  ): Promise<Res> {
    const reply = await this.connection.request(subject, this.encode(reqC, payload), {
      timeout: timeoutMs,
      headers: this.headersFor(),
    });
    const res = this.decode(resC, reply.data, subject);
    if (res === undefined) throw new ContractViolationError(resC.name, ['reply did not match its contract']);
    return res;
  }

  /** Answers a request with a validated reply. */
  respond<T>(msg: Msg, c: MessageContract<T>, payload: Outgoing<T>): void {
    msg.respond(this.encode(c, payload));
  }

  async close(): Promise<void> {
    if (!this.nc) return;
    const nc = this.nc;
    this.nc = undefined;
    for (const s of this.subs) s.unsubscribe();
    let timer: NodeJS.Timeout | undefined;
    try {
      // Drain is bounded: a broker that went away must not hold up shutdown.
      await Promise.race([nc.drain(), new Promise((r) => (timer = setTimeout(r, 3000)))]);
    } finally {
      clearTimeout(timer);
      if (!nc.isClosed()) await nc.close();
    }
  }
}
