import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BenchCandidate } from '@cvp/contracts';
import { agreementImages, type LoadBody, seededJpeg, seededTensor } from '@cvp/measure';
import sharp from 'sharp';
import type { ScratchDeployment } from '../serving/serving-path';
import type { ProtocolContext } from './protocol-context';
import type { StepRecord } from './protocol-step';

/** Why steps 6 (served split), 8 and 9 cannot load the data plane here, or undefined when they can. */
export function noServingPath(ctx: ProtocolContext): string | undefined {
  return ctx.servingPath
    ? undefined
    : `no data plane to deploy on: ${ctx.servingPathMissing ?? 'the protocol was started without a serving path'}`;
}

/** The data plane endpoint a model of this task answers on. */
export function endpointOf(ctx: ProtocolContext): 'detect' | 'classify' | 'infer' {
  return ctx.input.model.task ?? 'infer';
}

/** The URL requests go to: /detect and /classify at the model's input size, /infer for other models. */
export function requestUrl(ctx: ProtocolContext, d: ScratchDeployment): string {
  const e = endpointOf(ctx);
  const base = `${d.baseUrl}/v2/models/${d.modelName}/${e}`;
  return e === 'infer' ? base : `${base}?imgsz=${ctx.model.shape[2]}`;
}

const CONTENT_TYPE: Record<string, string> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png' };

/**
 * What the served steps send: the data set's images (held-out split first), as files; images the
 * data plane does not take (BMP, WebP) re-encoded as PNG; without a data set, seeded camera-like
 * 640x480 JPEGs. Models that are not detectors or classifiers get seeded tensors on /infer.
 */
export async function servedBodies(
  ctx: ProtocolContext,
): Promise<{ bodies: LoadBody[]; images: Buffer[]; description: string }> {
  const n = Math.max(1, ctx.options.servedImages);
  if (endpointOf(ctx) === 'infer') {
    const shape = ctx.model.shape;
    const data = Array.from(
      seededTensor(
        shape.reduce((a, b) => a * b, 1),
        ctx.options.seed,
      ),
    );
    const body = Buffer.from(JSON.stringify({ inputs: [{ name: ctx.model.name, shape, datatype: 'FP32', data }] }));
    return {
      bodies: [{ body, contentType: 'application/json' }],
      images: [],
      description: 'a seeded input tensor (JSON)',
    };
  }
  if (ctx.input.datasetDir) {
    const { files, description } = await agreementImages(ctx.input.datasetDir, n);
    if (files.length) {
      const bodies: LoadBody[] = [];
      for (const f of files) {
        const raw = await fs.readFile(f);
        const type = CONTENT_TYPE[path.extname(f).toLowerCase()];
        bodies.push(
          type
            ? { body: raw, contentType: type }
            : { body: await sharp(raw).png().toBuffer(), contentType: 'image/png' },
        );
      }
      return { bodies, images: bodies.map((b) => b.body), description };
    }
  }
  const count = Math.min(n, 4);
  const images: Buffer[] = [];
  for (let i = 0; i < count; i++) images.push(await seededJpeg(ctx.options.seed + i));
  return {
    bodies: images.map((body) => ({ body, contentType: 'image/jpeg' })),
    images,
    description: `${count} seeded synthetic 640x480 JPEGs (no data set attached)`,
  };
}

/** A deployment id (and model name) for one scratch deployment of this run: unique, and valid as a served name. */
export function scratchName(ctx: ProtocolContext, tag: string): string {
  return `scratch-${ctx.input.benchmarkId}-${tag}`.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64);
}

/** What a step records of each scratch deployment it made. */
export interface ScratchRecord {
  candidate: string;
  deploymentId: string;
  loadMs: number | null;
  removed: boolean;
  removalError?: string;
}

/**
 * Deploys a measured candidate's configuration on the data plane as a scratch deployment, runs
 * `fn` on it, and removes it in every case: after success, failure or cancellation, and when the
 * deployment itself failed half-way (the data plane may have loaded it all the same).
 */
export async function withScratchDeployment<T>(
  ctx: ProtocolContext,
  rec: StepRecord,
  c: BenchCandidate,
  tag: string,
  fn: (d: ScratchDeployment) => Promise<T>,
): Promise<T> {
  const sp = ctx.servingPath;
  if (!sp) throw new Error(noServingPath(ctx));
  const name = scratchName(ctx, tag);
  const entry: ScratchRecord = { candidate: c.id, deploymentId: name, loadMs: null, removed: false };
  ((rec.details.scratchDeployments ??= []) as ScratchRecord[]).push(entry);
  try {
    const d = await sp.deploy(
      {
        deploymentId: name,
        modelName: name,
        task: ctx.input.model.task,
        config: { engine: c.engine, options: c.options, modelPath: c.modelPath },
      },
      ctx.signal,
    );
    entry.loadMs = d.loadMs;
    return await fn(d);
  } finally {
    const r = await sp.remove(name, name);
    entry.removed = r.removed;
    if (!r.removed) {
      entry.removalError = r.reason ?? 'not confirmed';
      rec.reasons.push(`${c.id}: scratch deployment ${name} not confirmed removed: ${entry.removalError}`);
    }
  }
}
