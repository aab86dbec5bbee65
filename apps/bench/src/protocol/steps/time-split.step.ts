import type { BenchCandidate } from '@cvp/contracts';
import { createOrtSession, profileServingStages, round } from '@cvp/measure';
import { loadTargets } from '../candidates';
import type { ProtocolContext } from '../protocol-context';
import type { ProtocolStep, StepRecord } from '../protocol-step';
import { noServingPath, requestUrl, servedBodies, withScratchDeployment } from '../served';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = () => require('onnxruntime-node') as typeof import('onnxruntime-node');

interface ServedTiming {
  queue: number;
  pre: number;
  infer: number;
  post: number;
}

/**
 * The data plane's own pipeline, stage by stage, in this process on the served images: its
 * pre-processing and post-processing code (libs/measure) around the model file of `c` on the CPU.
 */
async function stageSplit(ctx: ProtocolContext, c: BenchCandidate, images: Buffer[]) {
  const task = ctx.input.model.task as 'detect' | 'classify';
  // A GPU candidate's file runs on the CPU here only to give post-processing its real outputs.
  const session = await createOrtSession(c.modelPath, {
    graphOptimization: c.options.graphOptimization,
    threads: c.options.provider === 'cpu' ? c.options.threads : 0,
    provider: 'cpu',
  });
  try {
    const { Tensor } = ort();
    const input = session.inputNames[0];
    const output = session.outputNames[0];
    return await profileServingStages({
      images,
      inputShape: ctx.model.shape,
      task,
      signal: ctx.signal,
      infer: async (tensor, shape) => {
        const r = await session.run({ [input]: new Tensor('float32', tensor, [...shape]) });
        return { data: r[output].data as Float32Array, dims: r[output].dims.map(Number) };
      },
    });
  } finally {
    await session.release().catch(() => undefined);
  }
}

/** Each image once through a scratch deployment, with the data plane's own timing of each request. */
async function servedSplit(ctx: ProtocolContext, rec: StepRecord, c: BenchCandidate, tag: string) {
  const { bodies } = await servedBodies(ctx);
  return withScratchDeployment(ctx, rec, c, tag, async (d) => {
    const sum: ServedTiming = { queue: 0, pre: 0, infer: 0, post: 0 };
    let roundTrip = 0;
    for (const b of bodies) {
      ctx.signal?.throwIfAborted();
      // copied before the clock starts: fetch's BodyInit type (DOM lib) does not take a Buffer
      const body = new Uint8Array(b.body);
      const t0 = performance.now();
      const r = await fetch(requestUrl(ctx, d), {
        method: 'POST',
        headers: { ...d.headers, 'content-type': b.contentType },
        body,
        signal: ctx.signal ? AbortSignal.any([ctx.signal, AbortSignal.timeout(60_000)]) : AbortSignal.timeout(60_000),
      });
      const text = await r.text();
      roundTrip += performance.now() - t0;
      if (r.status !== 200) throw new Error(`the data plane answered ${r.status}: ${text.slice(0, 300)}`);
      const t = (JSON.parse(text) as { timing_ms?: ServedTiming }).timing_ms;
      if (!t) throw new Error('the data plane answered without timing_ms');
      for (const k of Object.keys(sum) as (keyof ServedTiming)[]) sum[k] += t[k];
    }
    const n = bodies.length;
    return {
      requests: n,
      queueMs: round(sum.queue / n),
      preMs: round(sum.pre / n),
      inferMs: round(sum.infer / n),
      postMs: round(sum.post / n),
      roundTripMs: round(roundTrip / n),
    };
  });
}

/**
 * Step 6: where a request's time goes in the service, on the data set's images (seeded camera-like
 * JPEGs without one). Per stage of the data plane's own pre- and post-processing (decode + resize,
 * letterbox + normalisation, the model, YOLO decode + NMS), timed in this process with the
 * service's code; and as the data plane itself reports it (queue, pre, infer, post) for the chosen
 * candidate and the fastest of each engine, each deployed as a scratch deployment. It runs after the
 * selection, with the other serving-path steps.
 */
export const timeSplitStep: ProtocolStep = {
  step: 6,
  name: () => 'time split pre-processing / inference / post-processing',
  async run(ctx, rec) {
    const task = ctx.input.model.task;
    const targets = loadTargets(ctx);
    if (!task) {
      rec.reasons.push('not a detector or classifier: the data plane has no image pipeline for it');
      return;
    }
    if (targets.length === 0) throw new Error('no candidate to profile');
    const { images, description } = await servedBodies(ctx);
    rec.details.images = description;
    try {
      const c = targets[0];
      rec.details.stages = {
        candidate: c.id,
        pipeline:
          "the ort-node engine's: sharp/libvips decode and resize, letterbox and YOLOv8 decode/NMS of libs/measure (the native engine runs the same stages in C++; its split is in `served`)",
        ...(await stageSplit(ctx, c, images)),
      };
    } catch (e) {
      if (ctx.signal?.aborted) throw e;
      rec.reasons.push(`stage split: failed: ${(e as Error).message}`);
    }
    const missing = noServingPath(ctx);
    if (missing) {
      rec.reasons.push(`served split: skipped: ${missing}`);
      return;
    }
    const served: Record<string, unknown> = {};
    rec.details.served = served;
    for (const [i, c] of targets.entries()) {
      ctx.progressIn(6, (i + 1) / (targets.length + 1), 'step 6: time split on the data plane', { candidate: c.id });
      try {
        const s = await servedSplit(ctx, rec, c, `s6-${i + 1}`);
        served[c.id] = s;
        c.timeSplit = { preMs: s.preMs, inferMs: s.inferMs, postMs: s.postMs };
        rec.candidateIds.push(c.id);
      } catch (e) {
        if (ctx.signal?.aborted) throw e;
        rec.reasons.push(`${c.id}: served split: failed: ${(e as Error).message}`);
      }
    }
  },
};
