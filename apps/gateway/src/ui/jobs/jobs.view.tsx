import { JOB_STATES, JOB_TYPES, TERMINAL_JOB_STATES, type TuneTrial } from '@cvp/contracts';
import type { JobEventView, JobView } from '../../jobs/jobs.dto';
import { LineChart, ScatterChart } from '../views/charts';
import { Csrf, Empty, Progress, Select, shortId, StateBadge, Table, Time } from '../views/components';
import { Layout } from '../views/layout';
import { canAct, type PageContext } from '../views/page-context';
import { paretoPoints, trainingCurves, tuningTrials } from './job-insights';

export const isTerminal = (j: JobView) => TERMINAL_JOB_STATES.includes(j.state);

export function JobsPage({
  ctx,
  jobs,
  total,
  filter,
}: {
  ctx: PageContext;
  jobs: JobView[];
  total: number;
  filter: { type?: string; state?: string };
}) {
  return (
    <Layout ctx={ctx} title="Jobs">
      <form class="card row" method="get" action="/ui/jobs">
        <Select
          form="jobs-filter"
          name="type"
          label="Type"
          options={['', ...JOB_TYPES].map((t) => ({ value: t, label: t || 'any' }))}
          value={filter.type ?? ''}
        />
        <Select
          form="jobs-filter"
          name="state"
          label="State"
          options={['', ...JOB_STATES].map((t) => ({ value: t, label: t || 'any' }))}
          value={filter.state ?? ''}
        />
        <div class="actions">
          <button type="submit">Filter</button>
        </div>
      </form>
      <div
        id="jobs-table"
        hx-get={`/ui/jobs/table?${new URLSearchParams(Object.fromEntries(Object.entries(filter).filter(([, v]) => !!v)) as Record<string, string>)}`}
        hx-trigger={`every ${ctx.refreshMs}ms`}
        hx-swap="outerHTML"
      >
        <JobsTable jobs={jobs} />
      </div>
      {total > jobs.length && (
        <p class="muted">
          Showing the newest {jobs.length} of {total}.
        </p>
      )}
    </Layout>
  );
}

export function JobsTable({ jobs }: { jobs: JobView[] }) {
  return (
    <Table label="Jobs" head={['Job', 'Type', 'Model', 'State', 'Progress', 'Stage', 'Created']}>
      {jobs.length === 0 && <Empty cols={7}>No jobs match.</Empty>}
      {jobs.map((j) => (
        <tr key={j.id}>
          <td>
            <a href={`/ui/jobs/${j.id}`}>{shortId(j.id)}</a>
          </td>
          <td>{j.type}</td>
          <td>
            {typeof j.input.modelId === 'string' ? (
              <a href={`/ui/models/${j.input.modelId}`}>{shortId(j.input.modelId)}</a>
            ) : (
              '—'
            )}
          </td>
          <td>
            <StateBadge state={j.state} />
          </td>
          <td>
            <Progress value={j.progress} label={`Progress of job ${shortId(j.id)}`} />
          </td>
          <td class="wrap">{j.stage ?? ''}</td>
          <td>
            <Time iso={j.createdAt} />
          </td>
        </tr>
      ))}
    </Table>
  );
}

/** What a result links to: the new model version, the benchmark and its report, the package. */
function ResultLinks({ job }: { job: JobView }) {
  const r = job.result ?? {};
  const links: { href: string; label: string }[] = [];
  if (typeof r.benchmarkId === 'string')
    links.push({ href: `/ui/benchmarks/${r.benchmarkId}`, label: `Benchmark report ${r.benchmarkId}` });
  if (typeof r.modelId === 'string')
    links.push({
      href: `/ui/models/${r.modelId}`,
      label: typeof r.version === 'number' ? `Model version v${r.version}` : 'Model',
    });
  if (typeof r.packageId === 'string')
    links.push({ href: `/api/v1/packages/${r.packageId}/download`, label: `Package ${r.packageId} (API download)` });
  if (links.length === 0) return null;
  return (
    <ul>
      {links.map((l) => (
        <li key={l.href}>
          <a href={l.href}>{l.label}</a>
        </li>
      ))}
    </ul>
  );
}

/** The live part of a job page: state, progress, stage, error, result links (re-sent over SSE). */
export function JobStatus({ ctx, job }: { ctx: PageContext; job: JobView }) {
  return (
    <div id="job-status" class="card" data-state={job.state}>
      <dl class="facts">
        <dt>State</dt>
        <dd>
          <StateBadge state={job.state} />
        </dd>
        <dt>Progress</dt>
        <dd>
          <Progress value={job.progress} label="Job progress" />
        </dd>
        <dt>Stage</dt>
        <dd>{job.stage ?? '—'}</dd>
        <dt>Started</dt>
        <dd>
          <Time iso={job.startedAt} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <Time iso={job.finishedAt} />
        </dd>
        {job.error && (
          <>
            <dt>Error</dt>
            <dd class="error">{job.error}</dd>
          </>
        )}
      </dl>
      <ResultLinks job={job} />
      {canAct(ctx) && !isTerminal(job) && (
        <form
          id="job-cancel"
          method="post"
          action={`/ui/jobs/${job.id}/cancel`}
          hx-post={`/ui/jobs/${job.id}/cancel`}
          hx-confirm="Cancel this job?"
        >
          <Csrf ctx={ctx} />
          <button type="submit" class="danger">
            Cancel job
          </button>
        </form>
      )}
    </div>
  );
}

export function TrainingCurves({ events }: { events: JobEventView[] }) {
  const c = trainingCurves(events);
  return (
    <div id="job-curves">
      <LineChart id="train-losses" title="Training losses by epoch" series={c.losses} xLabel="epoch" yLabel="loss" />
      <LineChart
        id="train-metrics"
        title="Validation metrics by epoch"
        series={c.metrics}
        xLabel="epoch"
        yLabel="metric"
      />
    </div>
  );
}

export function TuningTrials({ job, events }: { job: JobView; events: JobEventView[] }) {
  const trials = tuningTrials(job, events);
  const nsga2 = job.input.strategy === 'nsga2';
  const points = paretoPoints(job, trials);
  const onFront = new Set(points.filter((p) => p.front).map((p) => p.label));
  const fmtParams = (t: TuneTrial) =>
    Object.entries(t.params ?? {})
      .map(([k, v]) => `${k}=${typeof v === 'number' ? Number(v.toPrecision(4)) : String(v)}`)
      .join(', ');
  return (
    <div id="job-trials">
      {nsga2 && (
        <ScatterChart
          id="pareto"
          title="Trials: accuracy against latency (Pareto front highlighted)"
          points={points}
          xLabel="latency (ms)"
          yLabel="accuracy"
        />
      )}
      <Table label="Tuning trials" head={['Trial', 'Status', 'Accuracy', 'Latency', 'Duration', 'Parameters', 'Error']}>
        {trials.length === 0 && <Empty cols={7}>No trial has finished yet.</Empty>}
        {trials.map((t) => {
          const pt = points.find((p) => p.label.startsWith(`trial ${t.number}:`));
          return (
            <tr key={t.number}>
              <td class="num">
                {t.number}
                {pt && onFront.has(pt.label) && nsga2 ? ' ★' : ''}
              </td>
              <td>{t.status ?? '—'}</td>
              <td class="num">{typeof t.accuracy === 'number' ? t.accuracy.toFixed(4) : '—'}</td>
              <td class="num">{typeof t.latency_ms === 'number' ? `${t.latency_ms.toFixed(1)} ms` : '—'}</td>
              <td class="num">{typeof t.duration_s === 'number' ? `${t.duration_s.toFixed(0)} s` : '—'}</td>
              <td class="wrap">{fmtParams(t)}</td>
              <td class="wrap">{t.error ?? ''}</td>
            </tr>
          );
        })}
      </Table>
      {nsga2 && <p class="muted">★ on the Pareto front.</p>}
    </div>
  );
}

export function JobPage({ ctx, job, events }: { ctx: PageContext; job: JobView; events: JobEventView[] }) {
  const live = !isTerminal(job);
  const extra =
    job.type === 'train' ? (
      <div sse-swap={live ? 'curves' : undefined}>
        <h2>Training curves</h2>
        <TrainingCurves events={events} />
      </div>
    ) : job.type === 'tune' ? (
      <div sse-swap={live ? 'trials' : undefined}>
        <h2>Trials</h2>
        <TuningTrials job={job} events={events} />
      </div>
    ) : null;
  return (
    <Layout ctx={ctx} title={`Job ${shortId(job.id)}: ${job.type}`}>
      <div
        id="job-live"
        hx-ext={live ? 'sse' : undefined}
        sse-connect={live ? `/ui/jobs/${job.id}/stream` : undefined}
        sse-close={live ? 'done' : undefined}
      >
        <div sse-swap={live ? 'status' : undefined}>
          <JobStatus ctx={ctx} job={job} />
        </div>
        {extra}
      </div>
      <h2>Input</h2>
      <div class="card">
        <dl class="facts">
          <dt>Id</dt>
          <dd>{job.id}</dd>
          {Object.entries(job.input).map(([k, v]) => (
            <>
              <dt key={`k${k}`}>{k}</dt>
              <dd key={`v${k}`}>
                {k === 'modelId' && typeof v === 'string' ? (
                  <a href={`/ui/models/${v}`}>{v}</a>
                ) : typeof v === 'string' ? (
                  v
                ) : (
                  JSON.stringify(v)
                )}
              </dd>
            </>
          ))}
          <dt>Created</dt>
          <dd>
            <Time iso={job.createdAt} />
          </dd>
          <dt>Attempts</dt>
          <dd>{job.attempts}</dd>
        </dl>
      </div>
    </Layout>
  );
}
