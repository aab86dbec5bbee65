import type { DeploymentView } from '../../deployments/deployments.service';
import { DeployForm, type DeployFormState } from '../models/models.view';
import { Csrf, Empty, fmtMs, shortId, StateBadge, Table, Time } from '../views/components';
import { Layout } from '../views/layout';
import { canAct, type PageContext } from '../views/page-context';
import type { PlaneLoad } from './deployment-load.service';

const rate = (v: number | null | undefined) =>
  v === null || v === undefined ? '—' : `${v.toFixed(v >= 10 ? 0 : 1)}/s`;

/** Deployments with the data plane's live numbers; re-fetched by htmx every refresh interval. */
export function DeploymentsTable({
  ctx,
  deployments,
  load,
  names,
}: {
  ctx: PageContext;
  deployments: DeploymentView[];
  load: PlaneLoad;
  names: Map<string, string>;
}) {
  const act = canAct(ctx);
  return (
    <div
      id="deployments-live"
      hx-get="/ui/deployments/live"
      hx-trigger={`every ${ctx.refreshMs}ms`}
      hx-swap="outerHTML"
    >
      <p class="muted" id="load-source">
        {load.ok
          ? `From the data plane's metrics at ${load.at.slice(11, 19)} UTC${load.windowS ? `; rates over the last ${load.windowS.toFixed(0)} s` : ''}; queue depth ${load.queueDepth}.`
          : load.error}
      </p>
      <Table
        label="Deployments"
        head={[
          'Model',
          'Deployment',
          'Engine',
          'State',
          'Requests',
          'Rate',
          'p50',
          'p95',
          'p99',
          '429s',
          'In flight',
          'Since',
          ...(act ? [''] : []),
        ]}
      >
        {deployments.length === 0 && <Empty cols={act ? 13 : 12}>Nothing deployed.</Empty>}
        {deployments.map((d) => {
          const m = load.ok ? load.models[d.modelId] : undefined;
          return (
            <tr key={d.id} data-deployment={d.id}>
              <td class="wrap">
                <a href={`/ui/models/${d.modelId}`}>{names.get(d.modelId) ?? shortId(d.modelId)}</a>
              </td>
              <td>{d.id}</td>
              <td>
                {d.engine}
                {d.requestedEngine === 'selected' ? ' (selected)' : ''}
              </td>
              <td>
                <StateBadge state={d.state} />
                {d.error && <span class="error"> {d.error}</span>}
              </td>
              <td class="num" data-metric="requests">
                {m ? m.requests : '—'}
              </td>
              <td class="num">{rate(m?.ratePerS)}</td>
              <td class="num">{fmtMs(m?.p50Ms)}</td>
              <td class="num">{fmtMs(m?.p95Ms)}</td>
              <td class="num">{fmtMs(m?.p99Ms)}</td>
              <td class="num" data-metric="throttled">
                {m ? m.throttled : '—'}
              </td>
              <td class="num">{m ? m.inFlight : '—'}</td>
              <td>
                <Time iso={d.createdAt} />
              </td>
              {act && (
                <td>
                  {(d.state === 'ready' || d.state === 'loading' || d.state === 'failed') && (
                    <form
                      method="post"
                      action={`/ui/deployments/${d.id}/undeploy`}
                      hx-post={`/ui/deployments/${d.id}/undeploy`}
                      hx-confirm="Undeploy? In-flight requests finish first."
                    >
                      <Csrf ctx={ctx} />
                      <button type="submit" class="danger">
                        Undeploy
                      </button>
                    </form>
                  )}
                </td>
              )}
            </tr>
          );
        })}
      </Table>
      {load.ok && Object.values(load.models).some((m) => m.latencyOver === 'since start') && (
        <p class="muted">Latency over the data plane's lifetime where no request arrived in the window.</p>
      )}
    </div>
  );
}

export function DeploymentsPage(props: {
  ctx: PageContext;
  deployments: DeploymentView[];
  load: PlaneLoad;
  names: Map<string, string>;
  models: { id: string; name: string }[];
  form?: DeployFormState;
}) {
  return (
    <Layout ctx={props.ctx} title="Deployments">
      <DeploymentsTable {...props} />
      {canAct(props.ctx) && <DeployForm ctx={props.ctx} models={props.models} state={props.form} />}
    </Layout>
  );
}
