import {
  type Benchmark,
  type CvpClient,
  type Deployment,
  type GpuLeases,
  type Job,
  type Model,
  type ModelTraffic,
  scrapeTraffic,
  type TrafficSnapshot,
  trafficBetween,
} from '@cvp/sdk';

/** One refresh of everything the dashboard shows. */
export interface DashboardData {
  at: number;
  jobs: Job[];
  leases: GpuLeases | null;
  deployments: Deployment[];
  models: Model[];
  benchmarks: Benchmark[];
  /** Data-plane traffic by model id (the data plane serves a model under its id). */
  traffic: Map<string, ModelTraffic>;
  /** What could not be read this time (the rest still shows). */
  errors: string[];
}

export const emptyData = (): DashboardData => ({
  at: 0,
  jobs: [],
  leases: null,
  deployments: [],
  models: [],
  benchmarks: [],
  traffic: new Map(),
  errors: [],
});

const ACTIVE = ['running', 'queued'];

/** Live jobs first (running, then queued), then the rest; newest first within each. */
export function orderJobs(jobs: Job[]): Job[] {
  const rank = (j: Job) => (j.state === 'running' ? 0 : j.state === 'queued' ? 1 : 2);
  return [...jobs].sort((a, b) => rank(a) - rank(b) || b.createdAt.localeCompare(a.createdAt));
}

/**
 * Reads the gateway (jobs, leases, deployments, models, benchmarks) and the data plane's metrics
 * in parallel, each bounded by the client's timeout; a part that fails keeps its last value and
 * is named in `errors`. Traffic rates come from the difference with the previous scrape.
 */
export class DashboardPoller {
  private last: DashboardData = emptyData();
  private lastScrape: TrafficSnapshot | null = null;

  constructor(
    private readonly client: CvpClient,
    private readonly inferenceUrl: string | null,
  ) {}

  async poll(): Promise<DashboardData> {
    const c = this.client;
    const [jobs, leases, deployments, models, benchmarks, scrape] = await Promise.allSettled([
      c.jobs.list({ limit: 50 }),
      c.leases.list(),
      c.deployments.list({ limit: 50 }),
      c.models.list({ limit: 50 }),
      c.benchmarks.list({ limit: 30 }),
      this.inferenceUrl ? scrapeTraffic(this.inferenceUrl) : Promise.reject(new Error('no data plane address')),
    ]);
    const errors: string[] = [];
    const take = <T>(r: PromiseSettledResult<T>, what: string, prev: T): T => {
      if (r.status === 'fulfilled') return r.value;
      errors.push(`${what}: ${(r.reason as Error)?.message ?? String(r.reason)}`);
      return prev;
    };
    const p = this.last;
    let traffic = p.traffic;
    if (scrape.status === 'fulfilled') {
      traffic = new Map(trafficBetween(this.lastScrape, scrape.value).map((t) => [t.model, t]));
      this.lastScrape = scrape.value;
    } else if (this.inferenceUrl) {
      errors.push(`metrics: ${(scrape.reason as Error)?.message ?? 'unreachable'}`);
    }
    this.last = {
      at: Date.now(),
      jobs: orderJobs(take(jobs, 'jobs', { items: p.jobs } as never).items),
      leases: take(leases, 'leases', p.leases),
      deployments: take(deployments, 'deployments', p.deployments),
      models: take(models, 'models', { items: p.models } as never).items,
      benchmarks: take(benchmarks, 'benchmarks', p.benchmarks),
      traffic,
      errors,
    };
    return this.last;
  }
}

export const isActiveJob = (j: Job) => ACTIVE.includes(j.state);
