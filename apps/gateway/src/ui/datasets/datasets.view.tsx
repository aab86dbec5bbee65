import { DATASET_FORMATS } from '@cvp/contracts';
import type { DatasetView } from '../../datasets/datasets.service';
import { Empty, Field, fmtBytes, FormProblem, Select, StateBadge, Table, Time } from '../views/components';
import { Layout } from '../views/layout';
import { canAct, type FieldErrors, type PageContext } from '../views/page-context';

export function DatasetUploadForm({
  values,
  errors,
}: {
  values?: Record<string, string | undefined>;
  errors?: FieldErrors;
}) {
  return (
    <form
      id="dataset-upload"
      class="card"
      method="post"
      action="/ui/datasets"
      enctype="multipart/form-data"
      hx-post="/ui/datasets"
      hx-encoding="multipart/form-data"
      hx-target="this"
      hx-swap="outerHTML"
      data-upload
    >
      <h2>Upload a data set</h2>
      <FormProblem errors={errors} />
      <Field
        form="dataset-upload"
        name="file"
        label="Zip archive"
        type="file"
        errors={errors}
        required
        hint="YOLO: data.yaml, images/<split>, labels/<split>; imagefolder: <split>/<class>/*.jpg"
        attrs={{ accept: '.zip,application/zip' }}
      />
      <div class="row">
        <Select
          form="dataset-upload"
          name="format"
          label="Format"
          options={DATASET_FORMATS}
          value={values?.format}
          errors={errors}
        />
        <Field
          form="dataset-upload"
          name="name"
          label="Name"
          value={values?.name}
          errors={errors}
          hint="defaults to the file name"
        />
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          Upload and validate
        </button>
        <progress class="upload" max={100} value={0} hidden aria-label="Upload progress"></progress>
        <span class="upload-pct muted" aria-live="polite"></span>
      </div>
    </form>
  );
}

export function DatasetsPage({ ctx, datasets }: { ctx: PageContext; datasets: Omit<DatasetView, 'report'>[] }) {
  return (
    <Layout ctx={ctx} title="Data sets">
      <Table label="Data sets" head={['Name', 'Format', 'Validation', 'Classes', 'Size', 'Created']}>
        {datasets.length === 0 && <Empty cols={6}>No data sets yet.</Empty>}
        {datasets.map((d) => (
          <tr key={d.id}>
            <td class="wrap">
              <a href={`/ui/datasets/${d.id}`}>{d.name}</a>
            </td>
            <td>{d.format}</td>
            <td>
              <StateBadge state={d.valid ? 'valid' : 'invalid'} />
            </td>
            <td class="wrap">{d.classes.join(', ')}</td>
            <td class="num">{fmtBytes(d.size)}</td>
            <td>
              <Time iso={d.createdAt} />
            </td>
          </tr>
        ))}
      </Table>
      {canAct(ctx) && <DatasetUploadForm />}
    </Layout>
  );
}

/** The validation report: splits with per-class counts, then every problem with its file (and line). */
export function DatasetPage({ ctx, dataset }: { ctx: PageContext; dataset: DatasetView }) {
  const r = dataset.report;
  return (
    <Layout ctx={ctx} title={`Data set ${dataset.name}`}>
      <div class="card">
        <dl class="facts">
          <dt>Id</dt>
          <dd>{dataset.id}</dd>
          <dt>Validation</dt>
          <dd>
            <StateBadge state={dataset.valid ? 'valid' : 'invalid'} />{' '}
            {dataset.valid
              ? 'usable for training, tuning and benchmarks'
              : 'rejected: kept with its report only, not usable'}
          </dd>
          <dt>Format</dt>
          <dd>{dataset.format}</dd>
          <dt>Images</dt>
          <dd>{r.images}</dd>
          <dt>Classes</dt>
          <dd>{dataset.classes.join(', ') || '—'}</dd>
          <dt>Archive</dt>
          <dd>
            {fmtBytes(dataset.size)}, SHA-256 {dataset.sha256}
          </dd>
        </dl>
      </div>
      <h2>Splits</h2>
      <Table label="Splits" head={['Split', 'Images', 'Labels', 'Per class']}>
        {Object.keys(r.splits).length === 0 && <Empty cols={4}>No split was found.</Empty>}
        {Object.entries(r.splits).map(([name, s]) => (
          <tr key={name}>
            <td>{name}</td>
            <td class="num">{s.images}</td>
            <td class="num">{s.labels}</td>
            <td class="wrap">
              {Object.entries(s.perClass)
                .map(([c, n]) => `${c}: ${n}`)
                .join(', ')}
            </td>
          </tr>
        ))}
      </Table>
      <h2>Problems ({r.problems.length + r.problemsTruncated})</h2>
      <Table label="Problems per file" head={['File', 'Line', 'Problem']}>
        {r.problems.length === 0 && <Empty cols={3}>None.</Empty>}
        {r.problems.map((p, i) => (
          <tr key={i}>
            <td class="wrap">{p.file}</td>
            <td class="num">{p.line ?? ''}</td>
            <td class="wrap">{p.message}</td>
          </tr>
        ))}
      </Table>
      {r.problemsTruncated > 0 && <p class="muted">{r.problemsTruncated} more problems were counted but not listed.</p>}
      {r.warnings.length > 0 && (
        <>
          <h2>Warnings ({r.warnings.length})</h2>
          <Table label="Warnings per file" head={['File', 'Line', 'Warning']}>
            {r.warnings.map((p, i) => (
              <tr key={i}>
                <td class="wrap">{p.file}</td>
                <td class="num">{p.line ?? ''}</td>
                <td class="wrap">{p.message}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </Layout>
  );
}
