import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { BenchConstraints, CvpClient, Deployment, InferResult, Job } from '@cvp/sdk';
import type { CliContext } from '../context';
import { benchChart, chartRows } from '../output/bench-chart';
import { CliExit, UsageError } from '../output/errors';
import { EXIT } from '../output/exit-codes';
import { ms } from '../output/format';
import { act, intList, num, oneOf, type Registry } from './command';
import { startJob } from './jobs.commands';

const STRATEGIES = ['ga', 'nsga2', 'tpe', 'cmaes', 'random'] as const;
const ENGINES = ['native', 'ort-node', 'selected'] as const;

/** The verdict of a benchmark: plain-language summary, then p95 per candidate as a chart. */
export async function printVerdict(ctx: CliContext, client: CvpClient, benchmarkId: string) {
  const [simple, report] = await Promise.all([
    client.benchmarks.simple(benchmarkId),
    client.benchmarks.technical(benchmarkId),
  ]);
  if (ctx.json) return { simple, report };
  const p = ctx.printer;
  p.out();
  p.heading(simple.headline);
  p.fields([
    ['chosen', simple.chosen ?? 'none'],
    ['p50', `${ms(simple.chosenP50Ms)} (baseline ${ms(simple.baselineP50Ms)})`],
    ['speed-up', simple.speedup !== null ? `${simple.speedup.toFixed(2)}x` : '-'],
    ['accuracy', simple.accuracyImpact],
  ]);
  p.out(simple.recommendation);
  for (const c of simple.caveats) p.out(p.c.dim(`  · ${c}`));
  p.out();
  p.out(p.c.dim('p95 per candidate (★ chosen, B baseline, ✗ fails a constraint)'));
  for (const line of benchChart(chartRows(report), ctx.io.stdout.columns ?? 100, !p.color)) p.out(line);
  p.out(p.c.dim(`report: cvp benchmarks report ${benchmarkId} --html report.html`));
  return { simple, report };
}

function constraintsOf(o: Record<string, number | undefined>): BenchConstraints {
  const c: BenchConstraints = {};
  if (o.maxP95Ms !== undefined) c.maxP95Ms = o.maxP95Ms;
  if (o.maxRssMb !== undefined) c.maxRssMb = o.maxRssMb;
  if (o.maxVramMb !== undefined) c.maxVramMb = o.maxVramMb;
  if (o.maxAccuracyDrop !== undefined) c.maxAccuracyDrop = o.maxAccuracyDrop;
  if (o.minThroughput !== undefined) c.minThroughput = o.minThroughput;
  return c;
}

function resultTable(ctx: CliContext, image: string, r: InferResult): void {
  const p = ctx.printer;
  p.heading(
    `${image}  ${p.c.dim(
      `(${r.model_name}; ${Object.entries(r.timing_ms)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ')} ms)`,
    )}`,
  );
  if (r.detections) {
    p.table(
      r.detections,
      [
        { header: 'CLASS', value: (d) => d.label ?? d.class_id },
        { header: 'SCORE', value: (d) => d.score.toFixed(3), align: 'right' },
        { header: 'BOX (x1, y1, x2, y2)', value: (d) => d.box.map((v) => v.toFixed(0)).join(', ') },
      ],
      'no detections',
    );
  } else {
    p.table(
      r.classes ?? [],
      [
        { header: 'CLASS', value: (c) => c.label ?? c.class_id },
        { header: 'SCORE', value: (c) => c.score.toFixed(4), align: 'right' },
      ],
      'no classes',
    );
  }
}

const IMAGE_TYPES: Record<string, string> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png' };

export function registerPipelineCommands(program: Command, reg: Registry): void {
  program
    .command('train')
    .description('train a model on a data set (Ultralytics); a new model version with its ONNX')
    .requiredOption('--model <id>', 'model to train')
    .requiredOption('--dataset <id>', 'a valid data set')
    .requiredOption('--epochs <n>', '1-1000', num('--epochs', { min: 1, max: 1000, int: true }))
    .option('--imgsz <px>', 'multiple of 32', num('--imgsz', { min: 32, max: 2048, int: true }), 640)
    .option('--batch <n>', '1-512', num('--batch', { min: 1, max: 512, int: true }), 16)
    .option('--device <d>', 'cpu or a CUDA device index', 'cpu')
    .option('--seed <n>', 'random seed', num('--seed', { min: 0, int: true }), 0)
    .option('--watch', 'follow it: epoch n/m, losses, ETA')
    .action(
      act(
        reg,
        async (
          ctx,
          o: {
            model: string;
            dataset: string;
            epochs: number;
            imgsz: number;
            batch: number;
            device: string;
            seed: number;
            watch?: boolean;
          },
        ) =>
          startJob(
            ctx,
            'train',
            {
              modelId: o.model,
              datasetId: o.dataset,
              epochs: o.epochs,
              imgsz: o.imgsz,
              batch: o.batch,
              device: o.device,
              seed: o.seed,
            },
            !!o.watch,
          ),
      ),
    );

  program
    .command('tune')
    .description('hyperparameter search: trials in parallel up to the GPU tokens; the best becomes a version')
    .requiredOption('--model <id>', 'model to tune')
    .requiredOption('--dataset <id>', 'a valid data set')
    .requiredOption('--strategy <s>', STRATEGIES.join(' | '), oneOf('--strategy', STRATEGIES))
    .requiredOption('--trials <n>', '1-500', num('--trials', { min: 1, max: 500, int: true }))
    .option('--epochs <n>', 'per trial, 1-300', num('--epochs', { min: 1, max: 300, int: true }), 10)
    .option('--imgsz <px>', 'multiple of 32', num('--imgsz', { min: 32, max: 2048, int: true }), 640)
    .option('--device <d>', 'cpu or a CUDA device index', 'cpu')
    .option('--seed <n>', 'random seed', num('--seed', { min: 0, int: true }), 0)
    .option('--space <json>', 'search space overrides: JSON, or @file.json')
    .option('--watch', 'follow it: trial n/m with the best so far, ETA')
    .action(
      act(
        reg,
        async (
          ctx,
          o: {
            model: string;
            dataset: string;
            strategy: (typeof STRATEGIES)[number];
            trials: number;
            epochs: number;
            imgsz: number;
            device: string;
            seed: number;
            space?: string;
            watch?: boolean;
          },
        ) => {
          let space: Record<string, unknown> | undefined;
          if (o.space) {
            const text = o.space.startsWith('@')
              ? await fs.readFile(path.resolve(ctx.io.cwd, o.space.slice(1)), 'utf8')
              : o.space;
            try {
              space = JSON.parse(text) as Record<string, unknown>;
            } catch {
              throw new UsageError('--space must be JSON (or @file.json)');
            }
          }
          return startJob(
            ctx,
            'tune',
            {
              modelId: o.model,
              datasetId: o.dataset,
              strategy: o.strategy,
              trials: o.trials,
              epochs: o.epochs,
              imgsz: o.imgsz,
              device: o.device,
              seed: o.seed,
              ...(space ? { space } : {}),
            },
            !!o.watch,
          );
        },
      ),
    );

  program
    .command('bench')
    .description('the optimization protocol on every engine, then a choice under the constraints')
    .requiredOption('--model <id>', 'model to benchmark')
    .option('--dataset <id>', 'images for inputs, labels for mAP')
    .option('--input-shape <dims>', 'fills symbolic dimensions, e.g. 1,3,640,640', intList('--input-shape'))
    .option('--max-p95-ms <ms>', 'p95 latency limit', num('--max-p95-ms', { min: 0 }))
    .option('--max-rss-mb <mb>', 'peak RSS limit', num('--max-rss-mb', { min: 0 }))
    .option('--max-vram-mb <mb>', 'peak VRAM limit', num('--max-vram-mb', { min: 0 }))
    .option('--max-accuracy-drop <x>', '0..1, e.g. 0.02', num('--max-accuracy-drop', { min: 0, max: 1 }))
    .option('--min-throughput <ips>', 'images per second', num('--min-throughput', { min: 0 }))
    .option('--watch', 'follow the 9 steps, then print the verdict (exit 12 when nothing meets the constraints)')
    .action(
      act(
        reg,
        async (
          ctx,
          o: { model: string; dataset?: string; inputShape?: number[]; watch?: boolean } & Record<
            string,
            number | undefined
          >,
        ) =>
          startJob(
            ctx,
            'bench',
            {
              modelId: o.model,
              ...(o.dataset ? { datasetId: o.dataset } : {}),
              ...(o.inputShape ? { inputShape: o.inputShape } : {}),
              constraints: constraintsOf(o),
            },
            !!o.watch,
            async (client: CvpClient, job: Job) => {
              const r = (job.result ?? {}) as { benchmarkId?: string; status?: string };
              const verdict = r.benchmarkId ? await printVerdict(ctx, client, r.benchmarkId) : undefined;
              const met = r.status === 'selected';
              if (!met && !ctx.json)
                ctx.printer.err(
                  ctx.printer.c.yellow('no engine meets the constraints (exit 12): loosen them, or see the report'),
                );
              return { code: met ? EXIT.ok : EXIT.constraintsNotMet, json: { verdict: verdict?.simple ?? null } };
            },
          ),
      ),
    );

  program
    .command('deploy')
    .description("serve a model on the data plane with an engine, or bench's choice (--engine selected)")
    .requiredOption('--model <id>', 'model to serve')
    .option('--engine <engine>', ENGINES.join(' | '), oneOf('--engine', ENGINES), 'selected')
    .option('--provider <p>', 'cpu | cuda | tensorrt', oneOf('--provider', ['cpu', 'cuda', 'tensorrt'] as const))
    .option('--precision <p>', 'fp32 | fp16 | int8', oneOf('--precision', ['fp32', 'fp16', 'int8'] as const))
    .option('--threads <n>', 'intra-op threads (0 = engine decides)', num('--threads', { min: 0, max: 256, int: true }))
    .option('--max-batch <n>', 'dynamic batching', num('--max-batch', { min: 1, max: 256, int: true }))
    .option('--wait', 'wait until it is ready (exit 10 if it fails to load)')
    .option('--wait-timeout <s>', 'how long --wait waits', num('--wait-timeout', { min: 1 }), 300)
    .action(
      act(
        reg,
        async (
          ctx,
          o: {
            model: string;
            engine: (typeof ENGINES)[number];
            provider?: 'cpu' | 'cuda' | 'tensorrt';
            precision?: 'fp32' | 'fp16' | 'int8';
            threads?: number;
            maxBatch?: number;
            wait?: boolean;
            waitTimeout: number;
          },
        ) => {
          const client = await ctx.client();
          const options = Object.fromEntries(
            Object.entries({
              provider: o.provider,
              precision: o.precision,
              threads: o.threads,
              maxBatch: o.maxBatch,
            }).filter(([, v]) => v !== undefined),
          );
          let d: Deployment = await client.deployments.create({
            modelId: o.model,
            engine: o.engine,
            ...(Object.keys(options).length ? { options } : {}),
          });
          const p = ctx.printer;
          if (o.wait) {
            p.note(`deployment ${d.id}: loading ${d.engine} (${d.options.provider}/${d.options.precision})…`);
            d = await client.deployments.settle(d.id, o.waitTimeout * 1000);
          }
          p.result(d, () => {
            p.out(
              `deployment ${d.id} ${d.state}: model ${d.modelId} v${d.modelVersion} on ${d.engine} (${d.options.provider}, ${d.options.precision}, graph ${d.options.graphOptimization}, batch ${d.options.maxBatch})`,
            );
            if (d.state === 'ready')
              p.out(p.c.dim(`  infer: cvp infer IMAGE --model ${d.modelId}   (KServe: ${d.servedAs})`));
            if (d.error) p.out(p.c.red(`  ${d.error}`));
          });
          if (d.state === 'failed')
            throw new CliExit(EXIT.jobFailed, `deployment ${d.id} failed to load`, d.error ?? undefined);
          if (o.wait && d.state === 'loading')
            throw new CliExit(EXIT.busy, `deployment ${d.id} still loading after ${o.waitTimeout} s`);
        },
      ),
    );

  program
    .command('infer <images...>')
    .description('run a deployed model on images (JPEG, PNG): detections or top-k classes')
    .requiredOption('--model <id>', 'a model with an active deployment')
    .option('--conf <x>', 'detectors: score threshold', num('--conf', { min: 0, max: 1 }))
    .option('--iou <x>', 'detectors: NMS IoU', num('--iou', { min: 0, max: 1 }))
    .option('--max-det <n>', 'detectors: most boxes', num('--max-det', { min: 1, int: true }))
    .option('--imgsz <px>', 'input size for dynamic models', num('--imgsz', { min: 16, int: true }))
    .option('--top-k <n>', 'classifiers: classes returned', num('--top-k', { min: 1, int: true }))
    .action(
      act(
        reg,
        async (
          ctx,
          o: { model: string; conf?: number; iou?: number; maxDet?: number; imgsz?: number; topK?: number },
          images: string[],
        ) => {
          const client = await ctx.client();
          const query = Object.fromEntries(
            Object.entries({ conf: o.conf, iou: o.iou, max_det: o.maxDet, imgsz: o.imgsz, top_k: o.topK }).filter(
              ([, v]) => v !== undefined,
            ),
          );
          const results: { image: string; result: InferResult }[] = [];
          for (const image of images) {
            const type = IMAGE_TYPES[path.extname(image).toLowerCase()];
            if (!type) throw new UsageError(`${image}: only .jpg, .jpeg and .png images`);
            const bytes = await fs.readFile(path.resolve(ctx.io.cwd, image));
            const result = await client.models.infer(o.model, bytes, type, query);
            results.push({ image, result });
            if (!ctx.json) resultTable(ctx, image, result);
          }
          if (ctx.json) ctx.printer.printJson(results);
        },
      ),
    );

  program
    .command('package')
    .description('a deployable Docker bundle (Dockerfiles, compose, model, engine config, run.sh)')
    .requiredOption('--model <id>', 'model to package')
    .option('--engine <engine>', ENGINES.join(' | '), oneOf('--engine', ENGINES), 'selected')
    .option('--variant <v>', 'cpu | cuda', oneOf('--variant', ['cpu', 'cuda'] as const), 'cpu')
    .option('--watch', 'follow the package job')
    .option('--download <dir>', 'with --watch: download the tarball here (checksum verified)')
    .action(
      act(
        reg,
        async (
          ctx,
          o: {
            model: string;
            engine: (typeof ENGINES)[number];
            variant: 'cpu' | 'cuda';
            watch?: boolean;
            download?: string;
          },
        ) => {
          if (o.download && !o.watch)
            throw new UsageError('--download needs --watch (the tarball exists once the job is done)');
          return startJob(
            ctx,
            'package',
            { modelId: o.model, engine: o.engine, variant: o.variant },
            !!o.watch,
            async (client, job) => {
              const packageId = (job.result as { packageId?: string } | null)?.packageId;
              if (!packageId || !o.download) return { json: { packageId: packageId ?? null } };
              const dest = path.resolve(ctx.io.cwd, o.download);
              await fs.mkdir(dest, { recursive: true });
              const file = await client.packages.download(packageId, dest);
              if (!ctx.json)
                ctx.printer.out(`downloaded ${file.file} (${file.sizeBytes} bytes, sha256 ${file.sha256}, verified)`);
              return { json: { packageId, download: file } };
            },
          );
        },
      ),
    );
}
