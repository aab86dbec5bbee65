import { AckPolicy, type Consumer, DeliverPolicy, type JetStreamManager, type JsMsg, nanos } from 'nats';
import type { Logger } from 'pino';

export interface DurableConsumerOptions {
  stream: string;
  durable: string;
  /** A message not acked (nor signalled with working()) for this long is redelivered. */
  ackWaitMs: number;
  /** Deliveries in flight at once for the whole consumer (1 keeps the stream's order). */
  maxAckPending: number;
  /** -1: unlimited (the worker counts deliveries itself, see JobWorkerService). */
  maxDeliver?: number;
  /** Where a consumer created now starts; an existing one keeps its position. */
  deliverPolicy: DeliverPolicy;
}

/**
 * Creates a durable pull consumer, or brings an existing one to these options (ack wait, in-flight
 * bound), so every process of a service shares one position in the stream.
 */
export async function ensureDurableConsumer(jsm: JetStreamManager, o: DurableConsumerOptions): Promise<void> {
  const cfg = {
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(o.ackWaitMs),
    max_ack_pending: o.maxAckPending,
    ...(o.maxDeliver === undefined ? {} : { max_deliver: o.maxDeliver }),
  };
  try {
    await jsm.consumers.info(o.stream, o.durable);
    await jsm.consumers.update(o.stream, o.durable, cfg);
  } catch {
    try {
      await jsm.consumers.add(o.stream, { ...cfg, durable_name: o.durable, deliver_policy: o.deliverPolicy });
    } catch (e) {
      // Another process created it between our info and add.
      if (!/already (in use|exists)/i.test((e as Error).message)) throw e;
    }
  }
}

export interface PullLoopOptions {
  /** The loop ends (within one pull, about 1 s) once this aborts. */
  signal: AbortSignal;
  logger: Logger;
  /** What is pulled, for log lines ("convert jobs", "job events"). */
  what: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Pulls one message at a time and hands it to `onMessage`, which acks, naks or terms it. A failed
 * pull (NATS reconnecting) is retried after 500 ms; an error escaping `onMessage` is logged and the
 * message left unacked, so JetStream redelivers it after the ack wait.
 */
export async function pullLoop(
  consumer: Consumer,
  onMessage: (msg: JsMsg) => Promise<void>,
  o: PullLoopOptions,
): Promise<void> {
  while (!o.signal.aborted) {
    let msg: JsMsg | null;
    try {
      msg = await consumer.next({ expires: 1000 });
    } catch (e) {
      if (o.signal.aborted) break;
      o.logger.warn({ err: e }, `pulling ${o.what} failed; retrying`);
      await sleep(500);
      continue;
    }
    if (!msg) continue;
    try {
      await onMessage(msg);
    } catch (e) {
      o.logger.error({ err: e }, `processing ${o.what} failed unexpectedly`);
    }
  }
}
