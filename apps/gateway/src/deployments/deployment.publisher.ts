import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  DeploymentChangedContract,
  DeploymentResyncContract,
  type DeploymentStatus,
  DeploymentStatusContract,
  type EngineConfig,
  type ModelTask,
  Subjects,
} from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import type { Logger } from 'pino';

export type StatusHandler = (s: DeploymentStatus) => Promise<void>;
export type ResyncHandler = (replica: string) => Promise<void>;

/**
 * NATS edge of the deployments module: publishes cvp.deployments.changed, consumes
 * cvp.deployments.status and (one gateway of the queue group) cvp.deployments.resync.
 */
@Injectable()
export class DeploymentPublisher implements OnApplicationBootstrap {
  private handler?: StatusHandler;
  private resyncHandler?: ResyncHandler;

  constructor(
    private readonly bus: MessageBus,
    @InjectLogger() private readonly log: Logger,
  ) {}

  onStatus(h: StatusHandler): void {
    this.handler = h;
  }

  onResync(h: ResyncHandler): void {
    this.resyncHandler = h;
  }

  onApplicationBootstrap(): void {
    this.bus.subscribe(DeploymentStatusContract, Subjects.deploymentStatus, async (s) => {
      await this.handler?.(s);
    });
    this.bus.subscribe(
      DeploymentResyncContract,
      Subjects.deploymentResync,
      async (r) => {
        await this.resyncHandler?.(r.replica);
      },
      { queue: 'gateway' },
    );
  }

  deploy(
    deploymentId: string,
    modelId: string,
    task: ModelTask,
    labels: string[] | undefined | null,
    config: EngineConfig,
  ): void {
    this.bus.publish(DeploymentChangedContract, Subjects.deploymentChanged, {
      action: 'deploy',
      deploymentId,
      modelName: modelId,
      task,
      ...(labels?.length ? { labels } : {}),
      config,
    });
    this.log.info({ deploymentId, modelId, engine: config.engine }, 'deployment announced');
  }

  undeploy(deploymentId: string, modelId: string): void {
    this.bus.publish(DeploymentChangedContract, Subjects.deploymentChanged, {
      action: 'undeploy',
      deploymentId,
      modelName: modelId,
    });
  }
}
