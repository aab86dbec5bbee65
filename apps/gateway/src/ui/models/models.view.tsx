import { MODEL_FORMATS, MODEL_TASKS, PRESET_CATALOG, PRESETS } from '@cvp/contracts';
import type { JobView } from '../../jobs/jobs.dto';
import type { ModelView } from '../../models/models.dto';
import type { BenchmarkView } from '../../benchmarks/benchmarks.service';
import type { DeploymentView } from '../../deployments/deployments.service';
import {
  Csrf,
  Empty,
  Field,
  fmtBytes,
  FormProblem,
  Progress,
  Select,
  shortId,
  StateBadge,
  Table,
  Time,
} from '../views/components';
import { Layout } from '../views/layout';
import { canAct, type FieldErrors, type PageContext } from '../views/page-context';

export interface UploadFormState {
  values?: Record<string, string | undefined>;
  errors?: FieldErrors;
}

/** Upload with a progress bar (htmx reports the XHR's upload progress; ui.js draws it). */
export function ModelUploadForm({ state }: { state?: UploadFormState }) {
  const v = state?.values ?? {};
  return (
    <form
      id="model-upload"
      class="card"
      method="post"
      action="/ui/models"
      enctype="multipart/form-data"
      hx-post="/ui/models"
      hx-encoding="multipart/form-data"
      hx-target="this"
      hx-swap="outerHTML"
      data-upload
    >
      <h2>Upload a model</h2>
      <FormProblem errors={state?.errors} />
      <Field
        form="model-upload"
        name="file"
        label="Model file"
        type="file"
        errors={state?.errors}
        required
        hint="ONNX, TorchScript (.pt), Ultralytics (.pt) or a zip of a TensorFlow SavedModel"
      />
      <div class="row">
        <Select
          form="model-upload"
          name="format"
          label="Format"
          options={MODEL_FORMATS}
          value={v.format}
          errors={state?.errors}
        />
        <Select
          form="model-upload"
          name="task"
          label="Task"
          options={MODEL_TASKS}
          value={v.task}
          errors={state?.errors}
        />
      </div>
      <div class="row">
        <Field
          form="model-upload"
          name="name"
          label="Name"
          value={v.name}
          errors={state?.errors}
          hint="defaults to the file name"
        />
        <Field
          form="model-upload"
          name="labels"
          label="Class names"
          value={v.labels}
          errors={state?.errors}
          hint="comma-separated, optional"
        />
        <Field
          form="model-upload"
          name="inputShape"
          label="Input shape"
          value={v.inputShape}
          errors={state?.errors}
          hint="N,C,H,W for TorchScript, e.g. 1,3,224,224"
        />
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          Upload
        </button>
        <progress class="upload" max={100} value={0} hidden aria-label="Upload progress"></progress>
        <span class="upload-pct muted" aria-live="polite"></span>
      </div>
    </form>
  );
}

export function PresetForm({
  ctx,
  errors,
  values,
}: {
  ctx: PageContext;
  errors?: FieldErrors;
  values?: Record<string, string | undefined>;
}) {
  return (
    <form
      id="preset-import"
      class="card"
      method="post"
      action="/ui/models/presets"
      hx-post="/ui/models/presets"
      hx-target="this"
      hx-swap="outerHTML"
    >
      <h2>Import a preset</h2>
      <Csrf ctx={ctx} />
      <FormProblem errors={errors} />
      <p class="muted">Built from the architecture definition: untrained unless you upload weights.</p>
      <div class="row">
        <Select
          form="preset-import"
          name="preset"
          label="Preset"
          options={PRESETS.map((p) => ({ value: p, label: `${p}: ${PRESET_CATALOG[p].description}` }))}
          value={values?.preset}
          errors={errors}
        />
        <Field
          form="preset-import"
          name="name"
          label="Name"
          value={values?.name}
          errors={errors}
          hint="defaults to the preset's name"
        />
      </div>
      <button type="submit" class="primary">
        Import
      </button>
    </form>
  );
}

function conversion(m: ModelView): string {
  if (m.versions.length === 0) return 'pending';
  const latest = m.versions.find((v) => v.version === m.latestVersion) ?? m.versions.at(-1)!;
  return latest.converted ? 'converted' : 'pending';
}

export function ModelsPage({ ctx, models, total }: { ctx: PageContext; models: ModelView[]; total: number }) {
  return (
    <Layout ctx={ctx} title="Models">
      <Table label="Models" head={['Name', 'Task', 'Source', 'Versions', 'ONNX', 'Trained', 'Created']}>
        {models.length === 0 && <Empty cols={7}>No models yet.</Empty>}
        {models.map((m) => (
          <tr key={m.id}>
            <td class="wrap">
              <a href={`/ui/models/${m.id}`}>{m.name}</a>
            </td>
            <td>{m.task}</td>
            <td>{m.preset ? `preset ${m.preset}` : m.sourceFormat}</td>
            <td class="num">{m.versions.length}</td>
            <td>
              <StateBadge state={conversion(m)} />
            </td>
            <td>{m.trained ? 'yes' : 'no'}</td>
            <td>
              <Time iso={m.createdAt} />
            </td>
          </tr>
        ))}
      </Table>
      {total > models.length && (
        <p class="muted">
          Showing the newest {models.length} of {total}.
        </p>
      )}
      {canAct(ctx) && (
        <div class="grid">
          <ModelUploadForm />
          <PresetForm ctx={ctx} />
        </div>
      )}
    </Layout>
  );
}

export interface BenchFormState {
  values?: Record<string, string | undefined>;
  errors?: FieldErrors;
}

export function BenchForm({ ctx, modelId, state }: { ctx: PageContext; modelId: string; state?: BenchFormState }) {
  const v = state?.values ?? {};
  return (
    <form
      id="bench-start"
      class="card"
      method="post"
      action={`/ui/models/${modelId}/bench`}
      hx-post={`/ui/models/${modelId}/bench`}
      hx-target="this"
      hx-swap="outerHTML"
    >
      <h2>Benchmark</h2>
      <Csrf ctx={ctx} />
      <FormProblem errors={state?.errors} />
      <p class="muted">
        Runs the optimization protocol on every engine this machine has and selects one under the limits.
      </p>
      <div class="row">
        <Field
          form="bench-start"
          name="maxP95Ms"
          label="Max p95 (ms)"
          type="number"
          value={v.maxP95Ms}
          errors={state?.errors}
          attrs={{ min: 0, step: 'any', inputMode: 'decimal' }}
        />
        <Field
          form="bench-start"
          name="maxAccuracyDrop"
          label="Max accuracy drop"
          type="number"
          value={v.maxAccuracyDrop}
          errors={state?.errors}
          hint="0 to 1"
          attrs={{ min: 0, max: 1, step: 'any', inputMode: 'decimal' }}
        />
        <Field
          form="bench-start"
          name="maxRssMb"
          label="Max memory (MB)"
          type="number"
          value={v.maxRssMb}
          errors={state?.errors}
          attrs={{ min: 0, step: 'any', inputMode: 'decimal' }}
        />
        <Field
          form="bench-start"
          name="datasetId"
          label="Data set id"
          value={v.datasetId}
          errors={state?.errors}
          hint="optional: real images and accuracy"
        />
      </div>
      <button type="submit" class="primary">
        Start benchmark
      </button>
    </form>
  );
}

export interface DeployFormState {
  values?: Record<string, string | undefined>;
  errors?: FieldErrors;
}

export function DeployForm({
  ctx,
  models,
  state,
}: {
  ctx: PageContext;
  models: { id: string; name: string }[];
  state?: DeployFormState;
}) {
  const v = state?.values ?? {};
  return (
    <form
      id="deploy"
      class="card"
      method="post"
      action="/ui/deployments"
      hx-post="/ui/deployments"
      hx-target="this"
      hx-swap="outerHTML"
    >
      <h2>Deploy</h2>
      <Csrf ctx={ctx} />
      <FormProblem errors={state?.errors} />
      <div class="row">
        <Select
          form="deploy"
          name="modelId"
          label="Model"
          options={models.map((m) => ({ value: m.id, label: `${m.name} (${shortId(m.id)})` }))}
          value={v.modelId}
          errors={state?.errors}
        />
        <Select
          form="deploy"
          name="engine"
          label="Engine"
          options={[
            { value: 'selected', label: "bench's selection" },
            { value: 'ort-node', label: 'ort-node (ONNX Runtime in process)' },
            { value: 'native', label: 'native (C++ core)' },
          ]}
          value={v.engine}
          errors={state?.errors}
        />
        <Field
          form="deploy"
          name="threads"
          label="Threads"
          type="number"
          value={v.threads}
          errors={state?.errors}
          hint="optional"
          attrs={{ min: 1, max: 64, inputMode: 'numeric' }}
        />
      </div>
      <button type="submit" class="primary">
        Deploy
      </button>
    </form>
  );
}

export function ModelPage({
  ctx,
  model,
  jobs,
  benchmarks,
  deployments,
}: {
  ctx: PageContext;
  model: ModelView;
  jobs: JobView[];
  benchmarks: BenchmarkView[];
  deployments: DeploymentView[];
}) {
  const live = jobs.some((j) => j.state === 'queued' || j.state === 'running');
  return (
    <Layout ctx={ctx} title={`Model ${model.name}`}>
      <div class="card">
        <dl class="facts">
          <dt>Id</dt>
          <dd>{model.id}</dd>
          <dt>Task</dt>
          <dd>{model.task}</dd>
          <dt>Source</dt>
          <dd>{model.preset ? `preset ${model.preset} (${model.sourceFormat})` : model.sourceFormat}</dd>
          <dt>Trained</dt>
          <dd>{model.trained ? 'yes' : 'no (architecture only)'}</dd>
          <dt>Inputs</dt>
          <dd>{model.inputs.map((t) => `${t.name} ${t.dtype} [${t.shape.join(', ')}]`).join('; ') || '—'}</dd>
          <dt>Outputs</dt>
          <dd>{model.outputs.map((t) => `${t.name} ${t.dtype} [${t.shape.join(', ')}]`).join('; ') || '—'}</dd>
          <dt>Opset</dt>
          <dd>{model.opset ?? '—'}</dd>
          <dt>Parameters</dt>
          <dd>{model.parameters?.toLocaleString('en') ?? '—'}</dd>
          <dt>ONNX size</dt>
          <dd>{fmtBytes(model.sizeBytes)}</dd>
          <dt>SHA-256</dt>
          <dd>{model.sha256 ?? '—'}</dd>
          <dt>Labels</dt>
          <dd>{model.labels?.join(', ') ?? '—'}</dd>
        </dl>
      </div>
      <h2>Versions</h2>
      <Table label="Versions" head={['Version', 'Source', 'Size', 'ONNX', 'Trained', 'Made by', 'Created']}>
        {model.versions.length === 0 && <Empty cols={7}>No version yet: the preset is being built.</Empty>}
        {model.versions.map((v) => (
          <tr key={v.version}>
            <td class="num">v{v.version}</td>
            <td>{v.sourceFormat}</td>
            <td class="num">{fmtBytes(v.sourceSize)}</td>
            <td>
              <StateBadge state={v.converted ? 'converted' : 'pending'} />
            </td>
            <td>{v.trained ? 'yes' : 'no'}</td>
            <td>{v.jobId ? <a href={`/ui/jobs/${v.jobId}`}>job {shortId(v.jobId)}</a> : 'upload'}</td>
            <td>
              <Time iso={v.createdAt} />
            </td>
          </tr>
        ))}
      </Table>
      <h2>Conversion and other jobs</h2>
      <div
        id="model-jobs"
        hx-get={`/ui/models/${model.id}/jobs`}
        hx-trigger={live ? `every ${ctx.refreshMs}ms` : undefined}
        hx-swap="outerHTML"
      >
        <ModelJobsTable jobs={jobs} />
      </div>
      <h2>Benchmarks</h2>
      <Table label="Benchmarks of this model" head={['Benchmark', 'Version', 'Status', 'Selected', 'Created']}>
        {benchmarks.length === 0 && <Empty cols={5}>Not benchmarked yet.</Empty>}
        {benchmarks.map((b) => (
          <tr key={b.id}>
            <td>
              <a href={`/ui/benchmarks/${b.id}`}>{b.id}</a>
            </td>
            <td class="num">v{b.modelVersion}</td>
            <td>
              <StateBadge state={b.status} />
            </td>
            <td>{b.selectedId ?? '—'}</td>
            <td>
              <Time iso={b.createdAt} />
            </td>
          </tr>
        ))}
      </Table>
      <h2>Deployments</h2>
      <Table label="Deployments of this model" head={['Deployment', 'Engine', 'State', 'Created']}>
        {deployments.length === 0 && <Empty cols={4}>Not deployed.</Empty>}
        {deployments.map((d) => (
          <tr key={d.id}>
            <td>
              <a href="/ui/deployments">{d.id}</a>
            </td>
            <td>{d.engine}</td>
            <td>
              <StateBadge state={d.state} />
            </td>
            <td>
              <Time iso={d.createdAt} />
            </td>
          </tr>
        ))}
      </Table>
      {canAct(ctx) && (
        <div class="grid">
          <BenchForm ctx={ctx} modelId={model.id} />
          <DeployForm ctx={ctx} models={[model]} />
          <form
            class="card"
            method="post"
            action={`/ui/models/${model.id}/delete`}
            hx-post={`/ui/models/${model.id}/delete`}
            hx-confirm={`Delete model ${model.name} and its files?`}
          >
            <h2>Delete</h2>
            <Csrf ctx={ctx} />
            <p class="muted">Removes the model, its versions and files.</p>
            <button type="submit" class="danger">
              Delete model
            </button>
          </form>
        </div>
      )}
    </Layout>
  );
}

export function ModelJobsTable({ jobs }: { jobs: JobView[] }) {
  return (
    <Table label="Jobs of this model" head={['Job', 'Type', 'State', 'Progress', 'Created']}>
      {jobs.length === 0 && <Empty cols={5}>No jobs.</Empty>}
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
            <Progress value={j.progress} label={`Progress of ${j.type} job ${shortId(j.id)}`} />
          </td>
          <td>
            <Time iso={j.createdAt} />
          </td>
        </tr>
      ))}
    </Table>
  );
}
