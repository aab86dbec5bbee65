import { Module, type OnApplicationBootstrap } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { ModelsModule } from '../models/models.module';
import { DeploymentEntity } from './deployment.entity';
import { DeploymentPublisher } from './deployment.publisher';
import { DeploymentsController } from './deployments.controller';
import { DeploymentsService } from './deployments.service';
import { InferProxyController } from './infer-proxy.controller';
import { InferProxyService } from './infer-proxy.service';

/** Deployments on the data plane (cvp.deployments.*) and the streaming inference proxy. */
@Module({
  imports: [TypeOrmModule.forFeature([DeploymentEntity]), ModelsModule, BenchmarksModule],
  controllers: [DeploymentsController, InferProxyController],
  providers: [DeploymentsService, DeploymentPublisher, InferProxyService],
  exports: [DeploymentsService],
})
export class DeploymentsModule implements OnApplicationBootstrap {
  constructor(
    private readonly deployments: DeploymentsService,
    private readonly publisher: DeploymentPublisher,
    @InjectLogger() private readonly log: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.publisher.onStatus((s) => this.deployments.applyStatus(s.deploymentId, s.state, s.error));
    // A data plane that was down when an event went out catches up (deploy is idempotent there):
    // at this gateway's start, and whenever a replica says it started (it may have come back empty).
    this.publisher.onResync((replica) => this.reannounce({ replica }));
    await this.reannounce({ reason: 'gateway start' });
  }

  private async reannounce(context: Record<string, string>): Promise<void> {
    const n = await this.deployments
      .reannounce()
      .catch((e) => (this.log.warn({ err: e, ...context }, 'could not re-announce deployments'), 0));
    if (n) this.log.info({ count: n, ...context }, 'active deployments re-announced');
  }
}
