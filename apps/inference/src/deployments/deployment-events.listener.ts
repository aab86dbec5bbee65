import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DeploymentChangedContract, DeploymentStatusContract, Subjects } from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import type { Logger } from 'pino';
import { ModelRepository } from '../repository/model-repository.service';

/**
 * NATS edge of the repository: applies cvp.deployments.changed (every replica sees every event:
 * no queue group) and reports each deployment's state on cvp.deployments.status.
 */
@Injectable()
export class DeploymentEventsListener implements OnApplicationBootstrap {
  constructor(
    private readonly bus: MessageBus,
    private readonly repository: ModelRepository,
    @InjectLogger() private readonly log: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.repository.onStatus((s) => {
      try {
        this.bus.publish(DeploymentStatusContract, Subjects.deploymentStatus, s);
      } catch (e) {
        this.log.warn({ err: e, status: s }, 'could not publish deployment status');
      }
    });
    this.bus.subscribe(DeploymentChangedContract, Subjects.deploymentChanged, (ev) => {
      this.log.info({ action: ev.action, model: ev.modelName, deploymentId: ev.deploymentId }, 'deployment event');
      // Not awaited: a slow load must not hold up events for other models.
      void this.repository.apply(ev);
    });
    void this.repository.restore();
  }
}
