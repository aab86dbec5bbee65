import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { Public } from './access';
import { HealthController, ReadinessChecks } from './health';
import { MessageBus } from './message-bus';
import { MetricsController } from './metrics.controller';

export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');
export const SERVICE_LOGGER = Symbol('SERVICE_LOGGER');
export const SERVICE_NAME = Symbol('SERVICE_NAME');

export interface PlatformOptions<C extends { CVP_NATS_URL: string }> {
  serviceName: string;
  config: C;
  logger: Logger;
  /** False for processes that never talk to NATS. */
  nats?: boolean;
}

/** Connects the bus at start-up, registers its readiness, drains it on shutdown. */
@Injectable()
class BusLifecycle implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly bus: MessageBus,
    private readonly readiness: ReadinessChecks,
  ) {}
  async onModuleInit() {
    this.readiness.register('nats', () => this.bus.isConnected() || 'not connected to NATS');
    await this.bus.connect();
  }
  async onApplicationShutdown() {
    await this.bus.close();
  }
}

// Health and metrics controllers are public: they are probed by the supervisor and Prometheus.
Public()(HealthController);

/** What every service gets: validated config, logger, the one NATS client, health and metrics. */
@Global()
@Module({})
export class PlatformModule {
  static forRoot<C extends { CVP_NATS_URL: string }>(opts: PlatformOptions<C>): DynamicModule {
    const bus = new MessageBus({ url: opts.config.CVP_NATS_URL, name: opts.serviceName, logger: opts.logger });
    const withNats = opts.nats !== false;
    return {
      module: PlatformModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController, MetricsController],
      providers: [
        ReadinessChecks,
        { provide: SERVICE_CONFIG, useValue: opts.config },
        { provide: SERVICE_LOGGER, useValue: opts.logger },
        { provide: SERVICE_NAME, useValue: opts.serviceName },
        { provide: MessageBus, useValue: bus },
        ...(withNats ? [BusLifecycle] : []),
      ],
      exports: [ReadinessChecks, SERVICE_CONFIG, SERVICE_LOGGER, SERVICE_NAME, MessageBus],
    };
  }
}

/** Injects the service's validated configuration. */
export const InjectConfig = () => Inject(SERVICE_CONFIG);
export const InjectLogger = () => Inject(SERVICE_LOGGER);
export type InferConfig<S extends z.ZodTypeAny> = z.infer<S>;
