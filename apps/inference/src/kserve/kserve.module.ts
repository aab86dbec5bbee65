import path from 'node:path';
import { Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { NativeCoreClient } from '@cvp/native-client';
import { InjectConfig, InjectLogger, ReadinessChecks } from '@cvp/platform';
import type { Logger } from 'pino';
import { AdmissionPool } from '../admission/admission-pool';
import { SharedBufferPool } from '../buffers/shared-buffer-pool';
import type { InferenceConfig } from '../config';
import { DeploymentEventsListener } from '../deployments/deployment-events.listener';
import type { Engine } from '../engines/engine';
import { NativeEngine } from '../engines/native.engine';
import { OrtNodeEngine } from '../engines/ort-node.engine';
import { InferenceMetrics } from '../metrics/inference-metrics';
import {
  ENGINES,
  ModelRepository,
  REPOSITORY_LOGGER,
  REPOSITORY_OPTIONS,
  type RepositoryOptions,
} from '../repository/model-repository.service';
import { SERVICE_CONFIG, SERVICE_LOGGER } from '@cvp/platform';
import { KSERVE_OPTIONS, KserveRoutes, type KserveOptions } from './kserve.routes';

const NATIVE_CLIENT = Symbol('NATIVE_CLIENT');

/** The data plane: model repository, engines, admission pool and the KServe v2 HTTP handler. */
@Module({
  providers: [
    InferenceMetrics,
    ModelRepository,
    KserveRoutes,
    DeploymentEventsListener,
    {
      provide: AdmissionPool,
      inject: [SERVICE_CONFIG],
      useFactory: (c: InferenceConfig) =>
        new AdmissionPool({ workers: c.CVP_INFER_WORKERS, queueCap: c.CVP_INFER_QUEUE_CAP }),
    },
    {
      provide: NATIVE_CLIENT,
      inject: [SERVICE_CONFIG],
      useFactory: (c: InferenceConfig) =>
        new NativeCoreClient({ address: c.CVP_NATIVE_ADDR, maxMessageBytes: (c.CVP_INFER_MAX_BODY_MB + 16) << 20 }),
    },
    {
      provide: SharedBufferPool,
      inject: [SERVICE_CONFIG],
      useFactory: (c: InferenceConfig) =>
        new SharedBufferPool({ maxIdleBytes: c.CVP_INFER_IDLE_BUFFERS_MB << 20, idleMs: 30_000 }),
    },
    {
      provide: ENGINES,
      inject: [SERVICE_CONFIG, NATIVE_CLIENT, SharedBufferPool],
      useFactory: (c: InferenceConfig, native: NativeCoreClient, buffers: SharedBufferPool): Engine[] => {
        const imageLimits = { maxBytes: c.CVP_INFER_MAX_BODY_MB << 20, maxPixels: c.CVP_INFER_MAX_IMAGE_PIXELS };
        return [
          new NativeEngine(native, {
            loadTimeoutMs: c.CVP_INFER_LOAD_TIMEOUT_MS,
            queueCap: c.CVP_INFER_ENGINE_QUEUE_CAP,
            maxQueueDelayUs: c.CVP_INFER_BATCH_DELAY_US,
            buffers,
          }),
          new OrtNodeEngine({
            imageLimits,
            queueCap: c.CVP_INFER_ENGINE_QUEUE_CAP,
            maxQueueDelayUs: c.CVP_INFER_BATCH_DELAY_US,
            buffers,
          }),
        ];
      },
    },
    {
      provide: REPOSITORY_OPTIONS,
      inject: [SERVICE_CONFIG],
      useFactory: (c: InferenceConfig): RepositoryOptions => ({
        stateFile: path.resolve(c.CVP_DATA_DIR, 'inference', 'deployments.json'),
        loadTimeoutMs: c.CVP_INFER_LOAD_TIMEOUT_MS,
      }),
    },
    { provide: REPOSITORY_LOGGER, useExisting: SERVICE_LOGGER },
    {
      provide: KSERVE_OPTIONS,
      inject: [SERVICE_CONFIG, SharedBufferPool],
      useFactory: (c: InferenceConfig, buffers: SharedBufferPool): KserveOptions => ({
        deadlineMs: c.CVP_INFER_DEADLINE_MS,
        maxBodyBytes: c.CVP_INFER_MAX_BODY_MB << 20,
        serverVersion: '0.1.0',
        buffers,
      }),
    },
    {
      provide: 'NATIVE_CLIENT_CLOSER',
      inject: [NATIVE_CLIENT],
      useFactory: (n: NativeCoreClient) => ({ onApplicationShutdown: () => n.close() }),
    },
  ],
  exports: [KserveRoutes, ModelRepository, AdmissionPool],
})
export class KserveModule implements OnModuleInit, OnApplicationShutdown {
  constructor(
    private readonly readiness: ReadinessChecks,
    private readonly repository: ModelRepository,
    private readonly pool: AdmissionPool,
    private readonly buffers: SharedBufferPool,
    @InjectConfig() private readonly config: InferenceConfig,
    @InjectLogger() private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    this.readiness.register('models', () => this.repository.readiness());
    this.log.info(
      {
        workers: this.config.CVP_INFER_WORKERS,
        queueCap: this.config.CVP_INFER_QUEUE_CAP,
        deadlineMs: this.config.CVP_INFER_DEADLINE_MS,
      },
      'admission pool',
    );
  }

  onApplicationShutdown(): void {
    this.pool.close();
    this.buffers.close();
  }
}
