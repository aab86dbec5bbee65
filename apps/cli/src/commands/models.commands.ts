import path from 'node:path';
import type { Command } from 'commander';
import type { Model, ModelUploadFields } from '@cvp/sdk';
import type { CliContext } from '../context';
import { UsageError } from '../output/errors';
import { EXIT } from '../output/exit-codes';
import { age, bytes, shortId } from '../output/format';
import { confirm } from '../prompt';
import { act, intList, num, oneOf, type Registry } from './command';
import { followJob } from './jobs.commands';

const FORMATS = ['onnx', 'torchscript', 'ultralytics', 'tensorflow-savedmodel'] as const;
const TASKS = ['detect', 'classify'] as const;
const PRESETS = ['yolov8n', 'yolov8s', 'resnet50', 'efficientnet_b0'] as const;

const shape = (dims: (string | number)[]) => `[${dims.join(', ')}]`;

export function modelsTable(ctx: CliContext, models: Model[]): void {
  ctx.printer.table(
    models,
    [
      { header: 'ID', value: (m) => m.id },
      { header: 'NAME', value: (m) => m.name },
      { header: 'TASK', value: (m) => m.task },
      { header: 'SOURCE', value: (m) => m.preset ?? m.sourceFormat },
      { header: 'VER', value: (m) => m.latestVersion, align: 'right' },
      { header: 'ONNX', value: (m) => (m.sha256 ? 'yes' : 'no') },
      { header: 'TRAINED', value: (m) => (m.trained ? 'yes' : 'no') },
      { header: 'INPUT', value: (m) => (m.inputs[0] ? shape(m.inputs[0].shape) : '-') },
      { header: 'SIZE', value: (m) => bytes(m.sizeBytes), align: 'right' },
    ],
    'no models: cvp models upload FILE --format onnx --task detect, or cvp models preset yolov8n',
  );
}

function printModel(ctx: CliContext, m: Model): void {
  const p = ctx.printer;
  p.fields([
    ['id', m.id],
    ['name', m.name],
    ['task', m.task],
    ['source', m.preset ? `preset ${m.preset} (${m.sourceFormat})` : m.sourceFormat],
    ['version', m.latestVersion],
    ['trained', m.trained ? 'yes' : 'no (architecture only)'],
    ['opset', m.opset],
    ['parameters', m.parameters?.toLocaleString('en-US')],
    ['size', bytes(m.sizeBytes)],
    ['sha256', m.sha256],
  ]);
  if (m.inputs.length || m.outputs.length) {
    p.out();
    p.table(
      [...m.inputs.map((t) => ({ io: 'input', ...t })), ...m.outputs.map((t) => ({ io: 'output', ...t }))],
      [
        { header: 'TENSOR', value: (t) => t.io },
        { header: 'NAME', value: (t) => t.name },
        { header: 'DTYPE', value: (t) => t.dtype },
        { header: 'SHAPE', value: (t) => shape(t.shape) },
      ],
    );
  }
  if (m.versions.length) {
    p.out();
    p.table(m.versions, [
      { header: 'VERSION', value: (v) => v.version, align: 'right' },
      { header: 'FORMAT', value: (v) => v.sourceFormat },
      { header: 'ONNX', value: (v) => (v.converted ? 'yes' : 'no') },
      { header: 'TRAINED', value: (v) => (v.trained ? 'yes' : 'no') },
      { header: 'JOB', value: (v) => shortId(v.jobId) },
      { header: 'AGE', value: (v) => age(v.createdAt), align: 'right' },
    ]);
  }
}

function formatFromFile(file: string): ModelUploadFields['format'] | undefined {
  const ext = path.extname(file).toLowerCase();
  return ext === '.onnx' ? 'onnx' : ext === '.zip' ? 'tensorflow-savedmodel' : undefined;
}

export function registerModelCommands(program: Command, reg: Registry): void {
  const models = program.command('models').description('upload, import, inspect and delete models');

  models
    .command('list', { isDefault: true })
    .description('models, newest first')
    .option('--task <task>', TASKS.join(' | '), oneOf('--task', TASKS))
    .option('--name <name>', 'exact name')
    .option('--limit <n>', 'at most n (1-200)', num('--limit', { min: 1, max: 200, int: true }), 50)
    .option('--page <n>', 'page number', num('--page', { min: 1, int: true }), 1)
    .action(
      act(reg, async (ctx, o: { task?: 'detect' | 'classify'; name?: string; limit: number; page: number }) => {
        const page = await (await ctx.client()).models.list(o);
        ctx.printer.result(page, () => modelsTable(ctx, page.items));
      }),
    );

  models
    .command('show <id>')
    .description('one model: tensors, opset, parameters, checksum, versions')
    .action(
      act(reg, async (ctx, _o, id: string) => {
        const m = await (await ctx.client()).models.get(id);
        ctx.printer.result(m, () => printModel(ctx, m));
      }),
    );

  models
    .command('upload <file>')
    .description('upload a model file (streamed); a convert job makes and checks its ONNX')
    .option(
      '--format <format>',
      `${FORMATS.join(' | ')} (default from the extension: .onnx)`,
      oneOf('--format', FORMATS),
    )
    .requiredOption('--task <task>', TASKS.join(' | '), oneOf('--task', TASKS))
    .option('--name <name>', 'display name (default: the file name)')
    .option('--input-shape <n,c,h,w>', 'for sources without fixed shapes (TorchScript)', intList('--input-shape'))
    .option('--labels <names>', 'class names: a,b,c or a JSON array')
    .option('--watch', 'follow the conversion job to the end')
    .action(
      act(
        reg,
        async (
          ctx,
          o: {
            format?: ModelUploadFields['format'];
            task: ModelUploadFields['task'];
            name?: string;
            inputShape?: number[];
            labels?: string;
            watch?: boolean;
          },
          file: string,
        ) => {
          const format = o.format ?? formatFromFile(file);
          if (!format) throw new UsageError(`cannot tell the format of ${file}: pass --format (${FORMATS.join(', ')})`);
          const client = await ctx.client();
          const abs = path.resolve(ctx.io.cwd, file);
          ctx.printer.note(`uploading ${abs}…`);
          const accepted = await client.models.upload(abs, {
            format,
            task: o.task,
            name: o.name ?? path.basename(file).replace(/\.[^.]+$/, ''),
            inputShape: o.inputShape?.join(','),
            labels: o.labels,
          });
          return acceptedModel(ctx, client, accepted, !!o.watch);
        },
      ),
    );

  models
    .command('preset')
    .description(`import ${PRESETS.join(', ')} from its architecture (untrained: no weights are downloaded)`)
    .argument('<name>', PRESETS.join(' | '), oneOf('preset', PRESETS))
    .option('--name <name>', 'display name')
    .option('--labels <names>', 'class names: a,b,c')
    .option('--watch', 'follow the conversion job to the end')
    .action(
      act(
        reg,
        async (ctx, o: { name?: string; labels?: string; watch?: boolean }, preset: (typeof PRESETS)[number]) => {
          const client = await ctx.client();
          const accepted = await client.models.preset(preset, {
            name: o.name,
            labels: o.labels?.split(',').map((s) => s.trim()),
          });
          return acceptedModel(ctx, client, accepted, !!o.watch);
        },
      ),
    );

  models
    .command('delete <id>')
    .description('delete a model with every version and file')
    .option('-y, --yes', 'do not ask')
    .action(
      act(reg, async (ctx, o: { yes?: boolean }, id: string) => {
        if (!o.yes && !(await confirm(ctx.io, `delete model ${id} and all its versions?`)))
          throw new UsageError('not confirmed: pass --yes to delete without a question');
        await (await ctx.client()).models.remove(id);
        ctx.printer.result({ deleted: id }, () => ctx.printer.out(`deleted model ${id}`));
      }),
    );
}

async function acceptedModel(
  ctx: CliContext,
  client: Awaited<ReturnType<CliContext['client']>>,
  accepted: Awaited<ReturnType<typeof client.models.upload>>,
  watch: boolean,
): Promise<number> {
  const p = ctx.printer;
  if (!watch) {
    p.result(accepted, () => {
      p.out(`model ${accepted.model.id} (${accepted.model.name}) stored; conversion job ${accepted.job.id}`);
      if (accepted.note) p.out(p.c.yellow(`  note: ${accepted.note}`));
      p.out(p.c.dim(`  follow it: cvp jobs watch ${accepted.job.id}`));
    });
    return EXIT.ok;
  }
  if (accepted.note) p.note(`note: ${accepted.note}`);
  const job = await client.jobs.get(accepted.job.id);
  return followJob(ctx, client, job, true, async () => {
    const model = await client.models.get(accepted.model.id);
    if (!ctx.json) {
      p.out();
      printModel(ctx, model);
    }
    return { json: { model } };
  });
}
