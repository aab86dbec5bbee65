import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { MessageBus, PlatformModule } from '@cvp/platform';
import type { Subscription } from 'nats';
import type { Logger } from 'pino';
import { z } from 'zod';
import { inferenceConfigSchema } from '../config';
import { KserveModule } from '../kserve/kserve.module';
import { STATIC_MODEL_CONFIG_PATH, StaticModelConfigLoader } from './static-model-config';

/**
 * The data plane without NATS and without the gateway, for packager bundles: the
 * same KServe module, engines and repository as the platform's inference service, with the one
 * model deployed from CVP_INFER_MODEL_CONFIG at start-up. A bundle's entrypoint runs
 * standalone.main.js; the platform runs main.js.
 */
export const standaloneConfigSchema = inferenceConfigSchema.extend({
  CVP_INFER_MODEL_CONFIG: z
    .string()
    .min(1, 'path of the deployment to load at start-up (a bundle sets model/model-config.json)'),
});
export type StandaloneConfig = z.infer<typeof standaloneConfigSchema>;

/**
 * A MessageBus with no broker: publishes (deployment status) go nowhere, subscriptions never
 * deliver, requests fail at once. Lets the repository's NATS edge run unchanged in a bundle.
 */
export class OfflineMessageBus extends MessageBus {
  override async connect(): Promise<void> {}

  override isConnected(): boolean {
    return false;
  }

  override publish(): void {}

  override async publishDurable(): Promise<void> {
    throw new Error('no NATS in a standalone data plane');
  }

  override subscribe(): Subscription {
    const closed = Promise.resolve(undefined);
    return {
      unsubscribe: () => undefined,
      closed,
      isClosed: () => true,
      [Symbol.asyncIterator]: async function* () {},
    } as unknown as Subscription;
  }

  override async request(): Promise<never> {
    throw new Error('no NATS in a standalone data plane');
  }

  override async close(): Promise<void> {}
}

const isBusProvider = (p: Provider) =>
  typeof p === 'object' && p !== null && 'provide' in p && p.provide === MessageBus;

export function standaloneModule(config: StandaloneConfig, logger: Logger): DynamicModule {
  const platform = PlatformModule.forRoot({ serviceName: 'inference', config, logger, nats: false });
  const bus = new OfflineMessageBus({ url: config.CVP_NATS_URL, name: 'inference', logger });
  platform.providers = (platform.providers ?? []).map((p) =>
    isBusProvider(p) ? { provide: MessageBus, useValue: bus } : p,
  );

  @Module({})
  class StandaloneInferenceModule {}
  return {
    module: StandaloneInferenceModule,
    imports: [platform, KserveModule],
    providers: [
      StaticModelConfigLoader,
      { provide: STATIC_MODEL_CONFIG_PATH, useValue: config.CVP_INFER_MODEL_CONFIG },
    ],
  };
}
