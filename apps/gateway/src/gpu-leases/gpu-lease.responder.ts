import { type BeforeApplicationShutdown, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  LeaseAcquireContract,
  LeaseAcquireReplyContract,
  LeaseGrantedNoticeContract,
  LeaseReleaseContract,
  LeaseReleaseReplyContract,
  LeaseRenewContract,
  LeaseRenewReplyContract,
  Subjects,
} from '@cvp/contracts';
import { InjectConfig, InjectLogger, MessageBus, ReadinessChecks } from '@cvp/platform';
import type { Subscription } from 'nats';
import type { Logger } from 'pino';
import { gpuLeaseConfig } from './gpu-leases.config';
import { GpuLeaseService } from './gpu-lease.service';
import type { HolderRecord } from './lease-state';

const QUEUE = 'cvp-gpu-lease-service';

/** The NATS side of the lease service: request-reply on cvp.gpu.lease.*, grant nudges, the sweeper. */
@Injectable()
export class GpuLeaseResponder implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private subs: Subscription[] = [];
  private sweeper?: NodeJS.Timeout;
  private readonly sweepMs: number;
  private started = false;

  constructor(
    private readonly bus: MessageBus,
    private readonly leases: GpuLeaseService,
    private readonly readiness: ReadinessChecks,
    @InjectConfig() config: Record<string, unknown>,
    @InjectLogger() private readonly logger: Logger,
  ) {
    this.sweepMs = gpuLeaseConfig(config).CVP_GPU_LEASE_SWEEP_MS;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.readiness.register('gpu-leases', () => this.started || 'GPU lease service not started');
    await this.leases.start();
    this.leases.onGrant = (h) => this.nudge(h);
    const fail = (e: unknown) => this.logger.error({ err: e }, 'GPU lease request failed');
    this.subs.push(
      this.bus.subscribe(
        LeaseAcquireContract,
        Subjects.leaseAcquire,
        async (req, msg) => {
          const r = await this.leases.acquire(req).catch((e) => (fail(e), undefined));
          if (!r) return; // no reply: the client re-sends
          const base = { requestId: req.requestId };
          if (r.status === 'granted') {
            const l = r.lease;
            this.bus.respond(msg, LeaseAcquireReplyContract, {
              ...base,
              status: 'granted',
              lease: {
                leaseId: l.leaseId,
                fencingToken: l.fencingToken,
                holder: l.holder,
                node: l.node,
                ttlMs: l.ttlMs,
                expiresInMs: Math.max(0, l.expiresAt - Date.now()),
              },
            });
          } else if (r.status === 'queued') {
            this.bus.respond(msg, LeaseAcquireReplyContract, { ...base, status: 'queued', position: r.position });
          } else {
            this.bus.respond(msg, LeaseAcquireReplyContract, { ...base, status: 'refused', reason: r.reason });
          }
        },
        { queue: QUEUE },
      ),
      this.bus.subscribe(
        LeaseRenewContract,
        Subjects.leaseRenew,
        async (req, msg) => {
          const r = await this.leases.renew(req.leaseId, req.fencingToken).catch((e) => (fail(e), undefined));
          if (!r) return;
          if (r.ok)
            this.bus.respond(msg, LeaseRenewReplyContract, {
              ok: true,
              expiresInMs: Math.max(0, r.lease.expiresAt - Date.now()),
            });
          else this.bus.respond(msg, LeaseRenewReplyContract, { ok: false, reason: r.reason });
        },
        { queue: QUEUE },
      ),
      this.bus.subscribe(
        LeaseReleaseContract,
        Subjects.leaseRelease,
        async (req, msg) => {
          const r = await this.leases
            .release({ leaseId: req.leaseId, requestId: req.requestId })
            .catch((e) => (fail(e), undefined));
          if (r && msg.reply) this.bus.respond(msg, LeaseReleaseReplyContract, { ok: true, released: r.released });
        },
        { queue: QUEUE },
      ),
    );
    this.sweeper = setInterval(() => {
      this.leases.sweep().catch((e) => this.logger.warn({ err: e }, 'GPU lease sweep failed'));
    }, this.sweepMs);
    this.started = true;
    this.logger.info(
      { tokens: this.leases.policy.tokens, nodeTokens: this.leases.policy.nodeTokens },
      'GPU lease service started',
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
    this.started = false;
  }

  private nudge(h: HolderRecord): void {
    if (!h.notify) return;
    try {
      this.bus.publish(LeaseGrantedNoticeContract, h.notify, { requestId: h.requestId });
    } catch (e) {
      this.logger.debug({ err: e }, 'grant nudge not sent (the waiter polls anyway)');
    }
  }
}
