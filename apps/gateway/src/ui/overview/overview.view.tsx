import type { GpuLeasesView } from '@cvp/contracts';
import type { DeploymentView } from '../../deployments/deployments.service';
import type { JobView } from '../../jobs/jobs.dto';
import type { PlaneLoad } from '../deployments/deployment-load.service';
import { Empty, Progress, shortId, StateBadge, Table } from '../views/components';
import { Layout } from '../views/layout';
import type { PageContext } from '../views/page-context';

export interface OverviewData {
  jobs: JobView[];
  gpu: GpuLeasesView;
  deployments: DeploymentView[];
  load: PlaneLoad;
}

/** The platform at a glance: jobs in flight, the GPU tokens, deployments under load (polled). */
export function OverviewLive({ ctx, data }: { ctx: PageContext; data: OverviewData }) {
  const { jobs, gpu, deployments, load } = data;
  return (
    <div id="overview-live" hx-get="/ui/overview" hx-trigger={`every ${ctx.refreshMs}ms`} hx-swap="outerHTML">
      <div class="grid">
        <div class="card">
          <h2>Jobs in flight</h2>
          <p class="stat">{jobs.length}</p>
          <a href="/ui/jobs">All jobs</a>
        </div>
        <div class="card">
          <h2>GPU tokens</h2>
          <p class="stat">
            {gpu.inUse} / {gpu.pools.reduce((n, p) => n + p.tokens, 0) || gpu.tokens}
          </p>
          <p class="muted">{gpu.waiters.length} waiting</p>
          <a href="/ui/gpu">Holders and queue</a>
        </div>
        <div class="card">
          <h2>Deployments</h2>
          <p class="stat">{deployments.filter((d) => d.state === 'ready').length} ready</p>
          <p class="muted">
            {load.ok
              ? `${Object.values(load.models)
                  .reduce((t, m) => t + (m.ratePerS ?? 0), 0)
                  .toFixed(1)} requests/s, ${Object.values(load.models).reduce((t, m) => t + m.inFlight, 0)} in flight`
              : 'data plane metrics unavailable'}
          </p>
          <a href="/ui/deployments">Load per deployment</a>
        </div>
      </div>
      <h2>Jobs in flight</h2>
      <Table label="Jobs in flight" head={['Job', 'Type', 'State', 'Progress', 'Stage']}>
        {jobs.length === 0 && <Empty cols={5}>Nothing is running.</Empty>}
        {jobs.map((j) => (
          <tr key={j.id}>
            <td>
              <a href={`/ui/jobs/${j.id}`}>{shortId(j.id)}</a>
            </td>
            <td>{j.type}</td>
            <td>
              <StateBadge state={j.state} />
            </td>
            <td>
              <Progress value={j.progress} label={`Progress of job ${shortId(j.id)}`} />
            </td>
            <td class="wrap">{j.stage ?? ''}</td>
          </tr>
        ))}
      </Table>
    </div>
  );
}

export function OverviewPage({ ctx, data }: { ctx: PageContext; data: OverviewData }) {
  return (
    <Layout ctx={ctx} title="Overview">
      <OverviewLive ctx={ctx} data={data} />
    </Layout>
  );
}
