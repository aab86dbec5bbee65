import { createHash, randomBytes } from 'node:crypto';
import {
  DeploymentChangedContract,
  type DeploymentStatus,
  DeploymentStatusContract,
  InferenceLookups,
  Subjects,
} from '@cvp/contracts';
import type { MessageBus } from '@cvp/platform';
import type { ScratchDeployment, ScratchSpec, ServingPath } from './serving-path';

export interface ScratchDeploymentOptions {
  /** The data plane's base URL (CVP_INFERENCE_URL). */
  inferenceUrl: string;
  /** How long the data plane has to say it took the deployment (its first status). */
  statusTimeoutMs: number;
  /** Bound on loading and warming the model up. */
  loadTimeoutMs: number;
  /** Bound on the data plane confirming a removal. */
  removeTimeoutMs: number;
}

type Waiter = { states: DeploymentStatus['state'][]; resolve: (s: DeploymentStatus | null) => void };

/**
 * Scratch deployments through the data plane's own deployment events: bench publishes
 * cvp.deployments.changed (marked scratch, so the data plane neither persists it nor lets it gate
 * readiness) and follows cvp.deployments.status. The gateway ignores the statuses of deployments
 * it does not know, so none of this reaches its deployments table. Plain class: the bench service
 * and scripts/bench-protocol.js build it over their own MessageBus.
 */
export class ScratchDeploymentsPublisher implements ServingPath {
  private readonly seen = new Map<string, DeploymentStatus[]>();
  private readonly waiters = new Map<string, Waiter[]>();
  private subscribed = false;

  constructor(
    private readonly bus: MessageBus,
    private readonly o: ScratchDeploymentOptions,
  ) {}

  get baseUrl(): string {
    return this.o.inferenceUrl.replace(/\/+$/, '');
  }

  private listen(): void {
    if (this.subscribed) return;
    this.subscribed = true;
    this.bus.subscribe(DeploymentStatusContract, Subjects.deploymentStatus, (s) => {
      const mine = this.seen.get(s.deploymentId);
      if (!mine) return; // not a scratch deployment of this process
      mine.push(s);
      for (const w of this.waiters.get(s.deploymentId) ?? [])
        if (w.states.includes(s.state)) {
          this.waiters.set(
            s.deploymentId,
            (this.waiters.get(s.deploymentId) ?? []).filter((x) => x !== w),
          );
          w.resolve(s);
        }
    });
  }

  /** The first status of `states` from `from` on (already seen, or still to come), or null after timeoutMs. */
  private next(
    deploymentId: string,
    states: DeploymentStatus['state'][],
    from: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<DeploymentStatus | null> {
    const already = (this.seen.get(deploymentId) ?? []).slice(from).find((s) => states.includes(s.state));
    if (already) return Promise.resolve(already);
    return new Promise((resolve) => {
      const w: Waiter = {
        states,
        resolve: (s) => {
          clearTimeout(t);
          signal?.removeEventListener('abort', onAbort);
          resolve(s);
        },
      };
      const drop = () =>
        this.waiters.set(
          deploymentId,
          (this.waiters.get(deploymentId) ?? []).filter((x) => x !== w),
        );
      const t = setTimeout(() => (drop(), w.resolve(null)), timeoutMs);
      const onAbort = () => (drop(), w.resolve(null));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.set(deploymentId, [...(this.waiters.get(deploymentId) ?? []), w]);
    });
  }

  async deploy(spec: ScratchSpec, signal?: AbortSignal): Promise<ScratchDeployment> {
    this.listen();
    this.seen.set(spec.deploymentId, []);
    const t0 = Date.now();
    // A credential of this deployment's own: a data plane that requires credentials accepts it on
    // this model's routes while it serves it (the event carries only its hash), so bench holds no
    // user's key and a leaked one opens nothing once the deployment is gone.
    const credential = randomBytes(32).toString('base64url');
    const headers = { authorization: `Bearer ${credential}` };
    this.bus.publish(DeploymentChangedContract, Subjects.deploymentChanged, {
      action: 'deploy',
      deploymentId: spec.deploymentId,
      modelName: spec.modelName,
      ...(spec.task ? { task: spec.task } : {}),
      config: spec.config,
      scratch: true,
      scratchCredentialSha256: createHash('sha256').update(credential).digest('hex'),
    });
    const first = await this.next(spec.deploymentId, ['loading', 'ready', 'failed'], 0, this.o.statusTimeoutMs, signal);
    signal?.throwIfAborted();
    if (!first)
      throw new Error(
        `no data plane took the scratch deployment within ${this.o.statusTimeoutMs / 1000} s (cvp.deployments.changed): is the inference service running on this NATS?`,
      );
    const end =
      first.state === 'loading'
        ? await this.next(spec.deploymentId, ['ready', 'failed', 'removed'], 0, this.o.loadTimeoutMs, signal)
        : first;
    signal?.throwIfAborted();
    if (!end)
      throw new Error(`the data plane did not load the scratch deployment within ${this.o.loadTimeoutMs / 1000} s`);
    if (end.state !== 'ready') throw new Error(`the data plane could not load it: ${end.error ?? end.state}`);
    const loadMs = Date.now() - t0;
    // The HTTP side: the URL bench was given reaches a data plane that serves this deployment.
    const readyUrl = `${this.baseUrl}/v2/models/${spec.modelName}/ready`;
    let status: number;
    try {
      const r = await fetch(readyUrl, {
        headers,
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(10_000)]) : AbortSignal.timeout(10_000),
      });
      status = r.status;
      await r.arrayBuffer();
    } catch (e) {
      signal?.throwIfAborted();
      throw new Error(
        `the data plane at ${this.baseUrl} is not reachable over HTTP (${(e as Error).message}${(e as { cause?: Error }).cause ? `: ${(e as { cause?: Error }).cause!.message}` : ''}); check CVP_INFERENCE_URL`,
      );
    }
    if (status === 401 || status === 403)
      throw new Error(
        `${readyUrl} answered ${status}: the data plane refused the scratch deployment's own credential (a data plane older than this bench, or another replica than the one that loaded it)`,
      );
    if (status !== 200)
      throw new Error(
        `${readyUrl} answered ${status}: the data plane at ${this.baseUrl} does not serve the scratch deployment it reported ready (another replica, or the wrong CVP_INFERENCE_URL)`,
      );
    return {
      deploymentId: spec.deploymentId,
      modelName: spec.modelName,
      baseUrl: this.baseUrl,
      headers,
      loadMs,
    };
  }

  async remove(deploymentId: string, modelName: string): Promise<{ removed: boolean; reason: string | null }> {
    this.listen();
    if (!this.seen.has(deploymentId)) this.seen.set(deploymentId, []);
    const from = this.seen.get(deploymentId)!.length;
    try {
      this.bus.publish(DeploymentChangedContract, Subjects.deploymentChanged, {
        action: 'undeploy',
        deploymentId,
        modelName,
        scratch: true,
      });
    } catch (e) {
      return { removed: false, reason: `the undeploy event could not be published: ${(e as Error).message}` };
    }
    const s = await this.next(deploymentId, ['removed'], from, this.o.removeTimeoutMs);
    this.seen.delete(deploymentId);
    this.waiters.delete(deploymentId);
    return s
      ? { removed: true, reason: null }
      : {
          removed: false,
          reason: `the data plane did not confirm the removal within ${this.o.removeTimeoutMs / 1000} s`,
        };
  }

  async cpuProfile(durationMs: number, top: number) {
    const { subject, request, reply } = InferenceLookups.cpuProfile;
    const r = await this.bus.request(request, reply, subject, { durationMs, top }, durationMs + 15_000);
    if (!r.ok || !r.profile) throw new Error(`the data plane could not profile: ${r.error ?? 'no profile'}`);
    return { pid: r.pid ?? null, profile: r.profile };
  }
}
