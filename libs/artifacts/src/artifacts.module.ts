import path from 'node:path';
import { type DynamicModule, Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { MessageBus, SERVICE_CONFIG, SERVICE_LOGGER } from '@cvp/platform';
import type { Logger } from 'pino';
import type { ArtifactStore } from './artifact-store';
import { Artifacts } from './artifacts';
import { type ArtifactsConfig, artifactsConfigSchema, createArtifactStore } from './config';

/** Injection token of the service's ArtifactStore (an interface, so it needs a token). */
export const ARTIFACT_STORE = Symbol('ARTIFACT_STORE');
export const InjectArtifactStore = () => Inject(ARTIFACT_STORE);

/** Closes the store (its cache lock) when the service stops; jobs have drained by then. */
@Injectable()
class ArtifactStoreShutdown implements OnApplicationShutdown {
  constructor(@Inject(ARTIFACT_STORE) private readonly store: ArtifactStore) {}
  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/**
 * `ArtifactsModule.forRoot()` in a service's AppModule (after PlatformModule) creates the one
 * store of the process from its validated config and provides `@InjectArtifactStore()`
 * everywhere. `objectstore` opens the bucket at start-up on the service's NATS connection, so a
 * missing JetStream or a replica mismatch stops the service before it takes work.
 */
@Global()
@Module({})
export class ArtifactsModule {
  static forRoot(): DynamicModule {
    return {
      module: ArtifactsModule,
      providers: [
        {
          provide: ARTIFACT_STORE,
          inject: [SERVICE_CONFIG, MessageBus, SERVICE_LOGGER],
          useFactory: async (
            config: ArtifactsConfig & { CVP_DATA_DIR: string },
            bus: MessageBus,
            logger: Logger,
          ): Promise<ArtifactStore> => {
            const c = artifactsConfigSchema.parse(config);
            if (c.CVP_ARTIFACTS === 'local') return createArtifactStore({ ...c, CVP_DATA_DIR: config.CVP_DATA_DIR });
            // Providers are built before the platform's lifecycle hook connects the bus; connect() is idempotent.
            await bus.connect();
            const store = await createArtifactStore({ ...c, CVP_DATA_DIR: config.CVP_DATA_DIR }, bus.connection).catch(
              async (e: unknown) => {
                // The service will not start: leave no connection behind (no shutdown hook runs).
                await bus.close();
                throw e;
              },
            );
            logger.info(
              { bucket: c.CVP_ARTIFACTS_BUCKET, replicas: c.CVP_ARTIFACTS_REPLICAS },
              'artifact store: objectstore',
            );
            return store;
          },
        },
        {
          provide: Artifacts,
          inject: [ARTIFACT_STORE, SERVICE_CONFIG],
          useFactory: (store: ArtifactStore, config: { CVP_DATA_DIR: string }) =>
            new Artifacts(store, path.resolve(config.CVP_DATA_DIR)),
        },
        ArtifactStoreShutdown,
      ],
      exports: [ARTIFACT_STORE, Artifacts],
    };
  }
}
