import type { GpuLeasesView } from '@cvp/contracts';
import { Csrf, Empty, Table, Time } from '../views/components';
import { Layout } from '../views/layout';
import { isAdmin, type PageContext } from '../views/page-context';

const secs = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

/** Each node's GPU tokens (held or free), their holders and the queues; polled by htmx. */
export function GpuLive({ ctx, view }: { ctx: PageContext; view: GpuLeasesView }) {
  return (
    <div id="gpu-live" hx-get="/ui/gpu/live" hx-trigger={`every ${ctx.refreshMs}ms`} hx-swap="outerHTML">
      <p>
        <span class="stat">{view.inUse}</span> GPU tokens held on {view.pools.length} node
        {view.pools.length === 1 ? '' : 's'}, {view.waiters.length} waiting. A node without a setting of its own has{' '}
        {view.tokens} tokens.
      </p>
      {view.pools.length === 0 && <p class="muted">No node has asked for a GPU lease yet.</p>}
      {view.pools.map((pool) => {
        const holders = view.holders.filter((h) => h.node === pool.node);
        const slots = Array.from({ length: Math.max(pool.tokens, holders.length) }, (_, i) => holders[i]);
        return (
          <section key={pool.node} data-node={pool.node}>
            <h2>
              {pool.node}: {pool.inUse} / {pool.tokens} held, {pool.waiting} waiting
            </h2>
            <div class="grid">
              {slots.map((h, i) => (
                <div class="card" key={i} data-token={i + 1}>
                  <h3>Token {i + 1}</h3>
                  {h ? (
                    <dl class="facts">
                      <dt>Holder</dt>
                      <dd>{h.holder}</dd>
                      <dt>Priority</dt>
                      <dd>{h.priority}</dd>
                      <dt>Held for</dt>
                      <dd>{secs(h.ageMs)}</dd>
                      <dt>Expires in</dt>
                      <dd>{secs(h.expiresInMs)}</dd>
                      <dt>Fencing token</dt>
                      <dd>{h.fencingToken}</dd>
                    </dl>
                  ) : (
                    <p class="muted">free</p>
                  )}
                </div>
              ))}
            </div>
          </section>
        );
      })}
      <h2>Holders</h2>
      <Table
        label="GPU lease holders"
        head={['Lease', 'Holder', 'Node', 'Priority', 'Granted', 'Expires in', ...(isAdmin(ctx) ? [''] : [])]}
      >
        {view.holders.length === 0 && <Empty cols={isAdmin(ctx) ? 7 : 6}>No lease is held.</Empty>}
        {view.holders.map((h) => (
          <tr key={h.id}>
            <td>{h.id}</td>
            <td class="wrap">{h.holder}</td>
            <td>{h.node}</td>
            <td>{h.priority}</td>
            <td>
              <Time iso={h.grantedAt} />
            </td>
            <td class="num">{secs(h.expiresInMs)}</td>
            {isAdmin(ctx) && (
              <td>
                <form
                  method="post"
                  action={`/ui/gpu/leases/${h.id}/release`}
                  hx-post={`/ui/gpu/leases/${h.id}/release`}
                  hx-confirm="Force-release this lease? Its holder learns at its next renew."
                >
                  <Csrf ctx={ctx} />
                  <button type="submit" class="danger">
                    Force release
                  </button>
                </form>
              </td>
            )}
          </tr>
        ))}
      </Table>
      <h2>Waiters</h2>
      <Table label="GPU lease waiters" head={['Node', 'Position', 'Holder', 'Priority', 'Waiting']}>
        {view.waiters.length === 0 && <Empty cols={5}>Nobody is waiting.</Empty>}
        {view.waiters.map((w) => (
          <tr key={w.requestId}>
            <td>{w.node}</td>
            <td class="num">{w.position}</td>
            <td class="wrap">{w.holder}</td>
            <td>{w.priority}</td>
            <td class="num">{secs(w.waitingMs)}</td>
          </tr>
        ))}
      </Table>
    </div>
  );
}

export function GpuPage({ ctx, view }: { ctx: PageContext; view: GpuLeasesView }) {
  return (
    <Layout ctx={ctx} title="GPU">
      <p class="muted">
        Inference goes before bench, bench before training; first come, first served within a priority.
      </p>
      <GpuLive ctx={ctx} view={view} />
    </Layout>
  );
}
