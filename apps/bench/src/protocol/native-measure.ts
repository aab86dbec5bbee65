import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type {
  Agreement,
  ConcurrencyPoint,
  GraphOptLevel,
  LatencyStats,
  StabilityResult,
  TimeSplit,
} from '@cvp/contracts';
import {
  BoundedPool,
  compareOutputs,
  concurrencyPoint,
  type DetectionMap,
  makeSamples,
  type OutputTensor,
  readOutputs,
  round,
  runLoad,
  scoreMap,
  seededJpeg,
  stabilityResult,
  measureRepeated,
} from '@cvp/measure';
import { NativeCoreClient } from '@cvp/native-client';

export interface NativeMeasureRequest {
  binary: string;
  modelPath: string;
  graphOptimization: GraphOptLevel;
  threads: number;
  precision: 'fp32' | 'fp16' | 'int8';
  batch: number;
  inputShape: number[];
  task: 'detect' | 'classify' | null;
  seed: number;
  warmup: number;
  iterations: number;
  cvThreshold: number;
  maxAttempts: number;
  timeBudgetMs?: number;
  datasetDir?: string | null;
  agreementSamples: number;
  compareWith?: string | null;
  timeSplit: boolean;
  /** Detectors: score mAP on this labelled YOLO data set, through Infer like the agreement samples. */
  mapEval?: { datasetDir: string; maxImages: number } | null;
  load?: {
    concurrency: number[];
    requestsPerLevel: number;
    poolSize: number;
    stabilityUsers: number;
    stabilityDurationMs: number;
    engineName: string;
  } | null;
  /** Bound on every single RPC. */
  rpcTimeoutMs: number;
}

export interface NativeMeasureResult {
  buildMs: number;
  firstInferenceMs: number;
  latency: LatencyStats;
  throughput: number;
  timeSplit: TimeSplit | null;
  agreement: Agreement | null;
  detectionMap: DetectionMap | null;
  mapError: string | null;
  concurrency: ConcurrencyPoint[];
  stability: StabilityResult | null;
  peakRssMb: number | null;
  version: string;
}

/** Why native engines cannot be measured here, or null when the core binary is present. */
export function nativeUnavailableReason(binary: string): string | null {
  if (!existsSync(binary))
    return `native core binary ${binary} is not built (run the native build: cmake --build native/build)`;
  return null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address() as net.AddressInfo;
      srv.close(() => resolve(a.port));
    });
  });
}

function peakRssOf(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

/**
 * One native-core configuration in a fresh core process (its own peak RSS), driven over gRPC
 * like the serving path does: Infer for latency and agreement, Detect/Classify for the time split.
 */
export async function measureNative(req: NativeMeasureRequest, signal?: AbortSignal): Promise<NativeMeasureResult> {
  const port = await freePort();
  const child = spawn(req.binary, ['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  const client = new NativeCoreClient({ address: `127.0.0.1:${port}` });
  const onAbort = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.waitForReady(15000).catch((e: Error) => {
      throw new Error(`native core did not start: ${e.message}; ${stderr.slice(-400)}`);
    });
    const id = 'bench';
    const t0 = process.hrtime.bigint();
    await client.loadModel(
      {
        id,
        path: req.modelPath,
        engine: {
          provider: 'cpu',
          precision: req.precision,
          graphOptimization: req.graphOptimization,
          intraOpThreads: req.threads,
          interOpThreads: 1,
        },
        batching: { maxBatch: 1, instanceCount: 1, queueCapacity: 1024 },
        warmup: false,
      },
      120000,
    );
    const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const meta = await client.modelMetadata({ id }, req.rpcTimeoutMs);
    const input = meta.inputs[0];
    const { samples } = await makeSamples(
      req.inputShape,
      Math.max(req.agreementSamples, req.batch),
      req.seed,
      req.datasetDir,
    );
    const toTensor = (data: Float32Array, shape: number[]) => ({
      name: input.name,
      datatype: 'FP32',
      shape,
      data: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    });
    const per = samples[0].length;
    const batchData = new Float32Array(per * req.batch);
    for (let b = 0; b < req.batch; b++) batchData.set(samples[b % samples.length], b * per);
    const batchReq = { modelId: id, inputs: [toTensor(batchData, [req.batch, ...req.inputShape.slice(1)])] };

    const f0 = process.hrtime.bigint();
    await client.infer(batchReq, req.rpcTimeoutMs);
    const firstInferenceMs = Number(process.hrtime.bigint() - f0) / 1e6;
    const latency = await measureRepeated(() => client.infer(batchReq, req.rpcTimeoutMs), {
      warmup: req.warmup,
      iterations: req.iterations,
      cvThreshold: req.cvThreshold,
      maxAttempts: req.maxAttempts,
      timeBudgetMs: req.timeBudgetMs,
      signal,
    });

    const inferOne = async (sample: Float32Array): Promise<OutputTensor[]> => {
      const r = await client.infer({ modelId: id, inputs: [toTensor(sample, req.inputShape)] }, req.rpcTimeoutMs);
      return r.outputs.map((o) => ({
        dims: o.shape.map(Number),
        data: new Float32Array(o.data.buffer.slice(o.data.byteOffset, o.data.byteOffset + o.data.byteLength)),
      }));
    };
    let agreement: Agreement | null = null;
    if (req.compareWith) {
      const outs: OutputTensor[][] = [];
      for (let i = 0; i < req.agreementSamples; i++) outs.push(await inferOne(samples[i % samples.length]));
      agreement = compareOutputs(await readOutputs(req.compareWith), outs, req.task);
    }
    const { detectionMap, mapError } = await scoreMap(
      req.mapEval,
      req.inputShape,
      async (sample) => (await inferOne(sample))[0],
      signal,
    );

    let timeSplit: TimeSplit | null = null;
    if (req.timeSplit && req.task) {
      const image = await seededJpeg(req.seed);
      const n = Math.max(3, Math.min(5, req.iterations));
      let pre = 0;
      let inf = 0;
      let post = 0;
      for (let i = 0; i < n; i++) {
        const r =
          req.task === 'detect'
            ? await client.detect({ modelId: id, image, imgsz: req.inputShape[3] }, req.rpcTimeoutMs)
            : await client.classify({ modelId: id, image, imgsz: req.inputShape[3] }, req.rpcTimeoutMs);
        pre += r.timing.preUs;
        inf += r.timing.inferUs;
        post += r.timing.postUs;
      }
      timeSplit = { preMs: round(pre / n / 1000), inferMs: round(inf / n / 1000), postMs: round(post / n / 1000) };
    }

    const concurrency: ConcurrencyPoint[] = [];
    let stability: StabilityResult | null = null;
    if (req.load) {
      // The serving path admits through a bounded worker pool (apps/inference, CVP_INFER_WORKERS) in
      // front of the core, whose gRPC thread pool refuses calls beyond its cap: bench does the same.
      const pool = new BoundedPool(req.load.poolSize, 100000);
      const one = { modelId: id, inputs: [toTensor(samples[0], req.inputShape)] };
      const call = () => pool.run(() => client.infer(one, Math.max(req.rpcTimeoutMs, 60000)));
      for (const c of req.load.concurrency) {
        concurrency.push(
          concurrencyPoint(
            req.load.engineName,
            c,
            await runLoad(call, { users: c, maxRequests: req.load.requestsPerLevel, durationMs: 60000, signal }),
          ),
        );
      }
      if (req.load.stabilityUsers > 0 && req.load.stabilityDurationMs > 0) {
        stability = stabilityResult(
          req.load.engineName,
          req.load.stabilityUsers,
          await runLoad(call, {
            users: req.load.stabilityUsers,
            maxRequests: 1e9,
            durationMs: req.load.stabilityDurationMs,
            signal,
          }),
        );
      }
    }
    return {
      buildMs: round(buildMs),
      firstInferenceMs: round(firstInferenceMs),
      latency,
      throughput: latency.meanMs > 0 ? round((req.batch * 1000) / latency.meanMs, 2) : 0,
      timeSplit,
      agreement,
      detectionMap,
      mapError,
      concurrency,
      stability,
      peakRssMb: child.pid ? peakRssOf(child.pid) : null,
      version: 'cvp-core (gRPC cvp.inference.v1)',
    };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    client.close();
    await stop(child);
  }
}
