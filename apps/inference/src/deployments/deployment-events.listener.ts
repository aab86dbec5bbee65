import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { hostname } from 'node:os';
import {
  DeploymentChangedContract,
  DeploymentResyncContract,
  DeploymentStatusContract,
  Subjects,
} from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import type { Logger } from 'pino';
import { ModelRepository } from '../repository/model-repository.service';

/**
 * NATS edge of the repository: applies cvp.deployments.changed (every replica sees every event:
 * no queue group), reports each deployment's state on cvp.deployments.status, and at start asks a
 * gateway to re-announce the active deployments (cvp.deployments.resync): a replica that was down,
 * or rescheduled with an empty data dir, would otherwise wait for the next gateway start.
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
    try {
      this.bus.publish(DeploymentResyncContract, Subjects.deploymentResync, {
        replica: `${hostname()}:${process.pid}`,
      });
    } catch (e) {
      // No gateway hears it now: the gateways re-announce at their own start.
      this.log.warn({ err: e }, 'could not ask for the active deployments');
    }
  }
}
