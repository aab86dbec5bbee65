import type { BenchReport } from '@cvp/contracts';
import type { BenchmarkView } from '../../benchmarks/benchmarks.service';
import { Empty, fmtMs, Select, shortId, StateBadge, Table, Time } from '../views/components';
import { Layout } from '../views/layout';
import type { FieldErrors, PageContext } from '../views/page-context';

export function BenchmarksPage({
  ctx,
  benchmarks,
  models,
}: {
  ctx: PageContext;
  benchmarks: BenchmarkView[];
  models: Map<string, string>;
}) {
  return (
    <Layout ctx={ctx} title="Benchmarks">
      <Table
        label="Benchmarks"
        head={['Benchmark', 'Model', 'Version', 'Status', 'Selected', 'Baseline p50', 'Selected p50', 'Created']}
      >
        {benchmarks.length === 0 && <Empty cols={8}>No benchmarks yet: start one from a model's page.</Empty>}
        {benchmarks.map((b) => (
          <tr key={b.id}>
            <td>
              <a href={`/ui/benchmarks/${b.id}`}>{b.id}</a>
            </td>
            <td class="wrap">
              <a href={`/ui/models/${b.modelId}`}>{models.get(b.modelId) ?? shortId(b.modelId)}</a>
            </td>
            <td class="num">v{b.modelVersion}</td>
            <td>
              <StateBadge state={b.status} />
            </td>
            <td>{b.selectedId ?? '—'}</td>
            <td class="num">{fmtMs(b.baselineP50Ms, 2)}</td>
            <td class="num">{fmtMs(b.selectedP50Ms, 2)}</td>
            <td>
              <Time iso={b.createdAt} />
            </td>
          </tr>
        ))}
      </Table>
    </Layout>
  );
}

export function CompareForm({
  benchmark,
  others,
  errors,
}: {
  benchmark: BenchmarkView;
  others: BenchmarkView[];
  errors?: FieldErrors;
}) {
  if (others.length === 0) return <p class="muted">No other run of this model to compare with.</p>;
  return (
    <form class="card row" method="get" action="/ui/benchmarks/compare">
      <input type="hidden" name="a" value={benchmark.id} />
      <Select
        form="compare"
        name="b"
        label="Compare with another run of this model"
        options={others.map((o) => ({ value: o.id, label: `${o.id} (${o.createdAt.slice(0, 19).replace('T', ' ')})` }))}
        errors={errors}
      />
      <div class="actions">
        <button type="submit">Compare</button>
      </div>
    </form>
  );
}

export function BenchmarkPage({
  ctx,
  benchmark,
  others,
  modelName,
}: {
  ctx: PageContext;
  benchmark: BenchmarkView;
  others: BenchmarkView[];
  modelName: string;
}) {
  const b = benchmark;
  return (
    <Layout ctx={ctx} title={`Benchmark ${b.id}`}>
      <div class="card">
        <dl class="facts">
          <dt>Model</dt>
          <dd>
            <a href={`/ui/models/${b.modelId}`}>{modelName}</a> v{b.modelVersion}
          </dd>
          <dt>Status</dt>
          <dd>
            <StateBadge state={b.status} />
          </dd>
          <dt>Selected</dt>
          <dd>{b.selectedId ?? '—'}</dd>
          <dt>p50</dt>
          <dd>
            {fmtMs(b.selectedP50Ms, 2)} selected, {fmtMs(b.baselineP50Ms, 2)} baseline
          </dd>
          <dt>Summary</dt>
          <dd>{b.summary}</dd>
          <dt>Job</dt>
          <dd>
            <a href={`/ui/jobs/${b.jobId}`}>{shortId(b.jobId)}</a>
          </dd>
          <dt>Created</dt>
          <dd>
            <Time iso={b.createdAt} />
          </dd>
        </dl>
      </div>
      <CompareForm benchmark={b} others={others} />
      <h2 id="simple-report">Simple report</h2>
      <iframe
        class="report"
        title="Simple report"
        src={`/ui/benchmarks/${b.id}/report/simple`}
        sandbox=""
        loading="lazy"
      ></iframe>
      <p>
        <a href={`/ui/benchmarks/${b.id}/report/simple`}>Open the simple report on its own</a>
      </p>
      <h2 id="technical-report">Technical report</h2>
      <iframe
        class="report"
        title="Technical report"
        src={`/ui/benchmarks/${b.id}/report/technical`}
        sandbox=""
        loading="lazy"
      ></iframe>
      <p>
        <a href={`/ui/benchmarks/${b.id}/report/technical`}>Open the technical report on its own</a>
      </p>
    </Layout>
  );
}

const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && a > 0 ? `${(b / a).toFixed(2)}×` : '—';

/** Two runs of one model side by side: every candidate either measured, with p50/p95 and the B/A ratio. */
export function ComparePage({
  ctx,
  a,
  b,
  ra,
  rb,
}: {
  ctx: PageContext;
  a: BenchmarkView;
  b: BenchmarkView;
  ra: BenchReport;
  rb: BenchReport;
}) {
  const ids = [...new Set([...ra.candidates.map((c) => c.id), ...rb.candidates.map((c) => c.id)])].sort();
  const ca = new Map(ra.candidates.map((c) => [c.id, c]));
  const cb = new Map(rb.candidates.map((c) => [c.id, c]));
  const star = (r: BenchReport, id: string) => (r.decision.chosenId === id ? ' ★' : '');
  return (
    <Layout ctx={ctx} title={`Compare ${a.id} and ${b.id}`}>
      <div class="grid">
        {[
          { label: 'A', v: a, r: ra },
          { label: 'B', v: b, r: rb },
        ].map(({ label, v, r }) => (
          <div class="card" key={label}>
            <h2>
              {label}: <a href={`/ui/benchmarks/${v.id}`}>{v.id}</a>
            </h2>
            <dl class="facts">
              <dt>Model</dt>
              <dd>
                {r.model.name} v{r.model.version}
              </dd>
              <dt>Chosen</dt>
              <dd>{r.decision.chosenId ?? r.decision.status}</dd>
              <dt>Run at</dt>
              <dd>
                <Time iso={r.createdAt} />
              </dd>
              <dt>Host</dt>
              <dd>
                {r.environment.cores} cores, {r.environment.cpuModel}
              </dd>
            </dl>
          </div>
        ))}
      </div>
      <p class="muted">★ chosen in that run. Ratio is B's p95 over A's: below 1× B was faster.</p>
      <Table
        label="Candidates of both runs"
        head={['Candidate', 'A p50', 'A p95', 'B p50', 'B p95', 'p95 B/A', 'A drop', 'B drop']}
      >
        {ids.map((id) => {
          const x = ca.get(id);
          const y = cb.get(id);
          return (
            <tr key={id}>
              <td>
                {id}
                {star(ra, id)}
                {star(rb, id) ? ' (B★)' : ''}
              </td>
              <td class="num">{fmtMs(x?.latency.p50Ms, 2)}</td>
              <td class="num">{fmtMs(x?.latency.p95Ms, 2)}</td>
              <td class="num">{fmtMs(y?.latency.p50Ms, 2)}</td>
              <td class="num">{fmtMs(y?.latency.p95Ms, 2)}</td>
              <td class="num">{ratio(x?.latency.p95Ms, y?.latency.p95Ms)}</td>
              <td class="num">{x?.agreement ? x.agreement.accuracyDrop.toFixed(4) : '—'}</td>
              <td class="num">{y?.agreement ? y.agreement.accuracyDrop.toFixed(4) : '—'}</td>
            </tr>
          );
        })}
      </Table>
    </Layout>
  );
}
