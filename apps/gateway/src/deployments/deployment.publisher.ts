import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  DeploymentChangedContract,
  type DeploymentStatus,
  DeploymentStatusContract,
  type EngineConfig,
  type ModelTask,
  Subjects,
} from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import type { Logger } from 'pino';

export type StatusHandler = (s: DeploymentStatus) => Promise<void>;

/** NATS edge of the deployments module: publishes cvp.deployments.changed, consumes cvp.deployments.status. */
@Injectable()
export class DeploymentPublisher implements OnApplicationBootstrap {
  private handler?: StatusHandler;

  constructor(
    private readonly bus: MessageBus,
    @InjectLogger() private readonly log: Logger,
  ) {}

  onStatus(h: StatusHandler): void {
    this.handler = h;
  }

  onApplicationBootstrap(): void {
    this.bus.subscribe(DeploymentStatusContract, Subjects.deploymentStatus, async (s) => {
      await this.handler?.(s);
    });
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
