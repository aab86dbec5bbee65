import { z } from 'zod';
import { contract, message, SCHEMA_VERSION } from '@cvp/contracts';
import { withCorrelation } from './correlation';
import { createLogger } from './logger';
import { MessageBus } from './message-bus';
import { contractRejections } from './metrics';

const Ping = contract('test.ping', message({ n: z.number().int().min(0) }));
const Pong = contract('test.pong', message({ n: z.number().int() }));

async function rejections(direction: string): Promise<number> {
  const m = await contractRejections.get();
  return m.values
    .filter((v) => v.labels.contract === 'test.ping' && v.labels.direction === direction)
    .reduce((a, v) => a + v.value, 0);
}

describe('MessageBus against a real nats-server', () => {
  const logger = createLogger('test', 'silent');
  let a: MessageBus;
  let b: MessageBus;

  beforeAll(async () => {
    a = new MessageBus({ url: process.env.CVP_NATS_URL!, name: 'a', logger });
    b = new MessageBus({ url: process.env.CVP_NATS_URL!, name: 'b', logger });
    await a.connect();
    await b.connect();
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('delivers valid payloads with the sender correlation id', async () => {
    const got = new Promise<{ n: number; cid?: string }>((resolve) => {
      b.subscribe(Ping, 'test.ok', (p) => resolve({ n: p.n, cid: p.correlationId }));
    });
    await b.connection.flush();
    withCorrelation('cid-123', () => a.publish(Ping, 'test.ok', { n: 7 }));
    await expect(got).resolves.toEqual({ n: 7, cid: 'cid-123' });
  });

  it('a receiver rejects an invalid payload, counts it and never handles it', async () => {
    const handled: number[] = [];
    b.subscribe(Ping, 'test.bad', (p) => {
      handled.push(p.n);
    });
    await b.connection.flush();
    const before = await rejections('inbound');
    // Raw publish bypasses the sender-side validation, as a buggy or hostile peer would.
    a.connection.publish(
      'test.bad',
      new TextEncoder().encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, n: -1 })),
    );
    a.connection.publish('test.bad', new TextEncoder().encode('not json'));
    a.publish(Ping, 'test.bad', { n: 3 });
    await a.connection.flush();
    const deadline = Date.now() + 5000;
    while (handled.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(handled).toEqual([3]);
    expect((await rejections('inbound')) - before).toBe(2);
  });

  it('refuses to send an invalid payload and counts it', async () => {
    const before = await rejections('outbound');
    expect(() => a.publish(Ping, 'test.bad', { n: 1.5 })).toThrow(/test.ping/);
    expect((await rejections('outbound')) - before).toBe(1);
  });

  it('request-reply validates both ends and is bounded by its timeout', async () => {
    b.subscribe(Ping, 'test.rpc', (p, msg) => b.respond(msg, Pong, { n: p.n * 2 }));
    await b.connection.flush();
    await expect(a.request(Ping, Pong, 'test.rpc', { n: 21 }, 2000)).resolves.toMatchObject({ n: 42 });
    const t0 = Date.now();
    await expect(a.request(Ping, Pong, 'test.nobody', { n: 1 }, 300)).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
