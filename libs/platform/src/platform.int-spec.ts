import {
  BadRequestException,
  Controller,
  Get,
  type INestApplication,
  Module,
  PayloadTooLargeException,
} from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import request from 'supertest';
import { z } from 'zod';
import { Public } from './access';
import { createService } from './bootstrap';
import { baseConfigSchema } from './config';
import { ReadinessChecks } from './health';
import { createLogger } from './logger';
import { MessageBus } from './message-bus';
import { PlatformModule } from './platform.module';

let ready = true;

@Controller('t')
class ProbeController {
  constructor(readiness: ReadinessChecks) {
    readiness.register('flag', () => ready || 'flag is down');
  }
  @Get('zod') @Public() zod() {
    z.object({ a: z.number() }).parse({ a: 'x' });
  }
  @Get('bad') @Public() bad() {
    throw new BadRequestException('bad thing');
  }
  @Get('big') @Public() big() {
    throw new PayloadTooLargeException('too big');
  }
  @Get('boom') @Public() boom() {
    throw new Error('secret internals');
  }
}

describe('PlatformModule in a real Nest app', () => {
  let app: INestApplication;
  const config = baseConfigSchema.parse({ CVP_NATS_URL: process.env.CVP_NATS_URL });
  const logger = createLogger('platform-test', 'silent');

  beforeAll(async () => {
    @Module({
      imports: [PlatformModule.forRoot({ serviceName: 'platform-test', config, logger })],
      controllers: [ProbeController],
    })
    class TestModule {}
    app = await createService({ name: 'platform-test', module: TestModule, host: '127.0.0.1', port: 0, logger });
    await app.init();
  });
  afterAll(() => app.close());

  it('is live, and ready only while every check passes (NATS included)', async () => {
    await request(app.getHttpServer()).get('/health/live').expect(200);
    const r = await request(app.getHttpServer()).get('/health/ready').expect(200);
    expect(r.body.info).toMatchObject({ nats: { status: 'up' }, flag: { status: 'up' } });
    ready = false;
    const down = await request(app.getHttpServer()).get('/health/ready').expect(503);
    expect(JSON.stringify(down.body)).toContain('flag is down');
    ready = true;
    expect(app.get(MessageBus).isConnected()).toBe(true);
  });

  it('exposes Prometheus process metrics', async () => {
    const r = await request(app.getHttpServer()).get('/metrics').expect(200);
    expect(r.text).toMatch(/process_resident_memory_bytes/);
    expect(r.text).toMatch(/nodejs_eventloop_lag/);
  });

  it('answers errors as problem+json with the correlation id, never leaking internals', async () => {
    const z400 = await request(app.getHttpServer()).get('/t/zod').set('x-correlation-id', 'abc-1').expect(400);
    expect(z400.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(z400.body).toMatchObject({ status: 400, correlationId: 'abc-1', instance: '/t/zod' });
    expect(z400.body.errors[0].path).toBe('a');
    expect((await request(app.getHttpServer()).get('/t/bad').expect(400)).body.detail).toBe('bad thing');
    expect((await request(app.getHttpServer()).get('/t/big').expect(413)).body.title).toBe('Payload Too Large');
    const boom = await request(app.getHttpServer()).get('/t/boom').expect(500);
    expect(JSON.stringify(boom.body)).not.toContain('secret internals');
    expect(boom.headers['x-correlation-id']).toBeTruthy();
  });

  it('refuses a forged correlation id', async () => {
    const r = await request(app.getHttpServer())
      .get('/health/live')
      .set('x-correlation-id', 'bad id with spaces')
      .expect(200);
    expect(r.headers['x-correlation-id']).not.toContain(' ');
    expect(r.headers['x-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a request the HTTP parser refuses (a control character in a header) with problem+json', async () => {
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    const raw = await new Promise<string>((resolve, reject) => {
      const c = connect(port, '127.0.0.1', () =>
        c.write('GET /health/live HTTP/1.1\r\nHost: x\r\nLast-Event-ID: a\x01b\r\nConnection: close\r\n\r\n'),
      );
      let out = '';
      c.on('data', (d) => (out += d.toString()));
      c.on('end', () => resolve(out));
      c.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toMatch(/Content-Type: application\/problem\+json/);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 400 });
  });
});
