import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type { EngineId } from '@cvp/contracts';
import {
  type EngineMeasurement,
  type EngineUnderTest,
  measureEngine,
  type MeasurementPlan,
  type OutputTensor,
  percentile,
  round,
  seededTensor,
  VramSampler,
  vramFigure,
} from '@cvp/measure';
import { type NativeCoreApi, NativeCoreClient } from '@cvp/native-client';
import { type CandidateConfig, engineOptionsOf } from '../candidate-config';
import type { CandidateMeasurer, InstanceLayout, LayoutMeasurement } from './candidate-measurer';

/** Bound on loading the model into the core (the session build, TensorRT engines included). */
const LOAD_MODEL_TIMEOUT_MS = 120_000;
/**
 * A load run's call waits inside the core behind the other calls the pool let through (the core
 * runs one at a time per instance), so it gets at least this long.
 */
const LOAD_CALL_TIMEOUT_MS = 60_000;

/**
 * Native-core configurations: each in a fresh core process (its own peak RSS), driven over gRPC
 * as the serving path does (Infer for latency, agreement and mAP). GPU configurations have the
 * core's GPU memory sampled through NVML from before the model loads until the last inference.
 */
export class NativeMeasurer implements CandidateMeasurer {
  readonly engine: EngineId = 'native';
  readonly unavailableReason: string | null;

  constructor(private readonly o: { binary: string; enabled: boolean; rpcTimeoutMs: number }) {
    this.unavailableReason = !o.enabled
      ? 'native engines disabled (CVP_BENCH_NATIVE=false)'
      : existsSync(o.binary)
        ? null
        : `native core binary ${o.binary} is not built (run the native build: cmake --build native/build)`;
  }

  async measure(config: CandidateConfig, plan: MeasurementPlan, signal?: AbortSignal): Promise<EngineMeasurement> {
    return this.withCore(signal, async (client, child) => {
      const vram = config.provider !== 'cpu' && child.pid ? VramSampler.start([child.pid]) : null;
      try {
        return await this.measureIn(client, child, config, plan, vram, signal);
      } finally {
        await vram?.stop();
      }
    });
  }

  private async measureIn(
    client: NativeCoreClient,
    child: ChildProcess,
    config: CandidateConfig,
    plan: MeasurementPlan,
    vram: VramSampler | null,
    signal?: AbortSignal,
  ): Promise<EngineMeasurement> {
    const id = 'bench';
    const t0 = process.hrtime.bigint();
    await client.loadModel(
      {
        id,
        path: config.modelPath,
        engine: {
          provider: config.provider,
          // TensorRT FP16 from the FP32 file: the core sets trt_fp16_enable for precision fp16.
          precision: engineOptionsOf(config).precision,
          graphOptimization: config.graphOptimization,
          intraOpThreads: config.threads,
          interOpThreads: 1,
        },
        batching: { maxBatch: 1, instanceCount: config.instances ?? 1, queueCapacity: 1024 },
        warmup: false,
      },
      LOAD_MODEL_TIMEOUT_MS,
    );
    const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const meta = await client.modelMetadata({ id }, this.o.rpcTimeoutMs);
    const engine = coreEngine(client, child, {
      modelId: id,
      inputName: meta.inputs[0].name,
      rpcTimeoutMs: this.o.rpcTimeoutMs,
      vram: async () =>
        vram && child.pid
          ? vramFigure(await vram.stop(), [child.pid])
          : { peakMb: null, reason: 'CPU engine: uses no GPU memory' },
    });
    return measureEngine(engine, buildMs, plan, signal);
  }

  /**
   * The core with the model loaded as N instances of T threads, kept busy by N + 1 callers (one
   * more than instances, so an instance never waits for the next request to cross gRPC).
   */
  async measureLayout(
    config: CandidateConfig,
    layout: InstanceLayout,
    o: { inputShape: number[]; seconds: number; signal?: AbortSignal },
  ): Promise<LayoutMeasurement> {
    if (config.provider !== 'cpu') throw new Error(`instance layouts are measured on the CPU provider only`);
    return this.withCore(o.signal, async (client, child) => {
      const id = 'layout';
      await client.loadModel(
        {
          id,
          path: config.modelPath,
          engine: {
            provider: 'cpu',
            precision: engineOptionsOf(config).precision,
            graphOptimization: config.graphOptimization,
            intraOpThreads: layout.threads,
            interOpThreads: 1,
          },
          batching: { maxBatch: 1, instanceCount: layout.instances, queueCapacity: 1024 },
          warmup: true,
        },
        LOAD_MODEL_TIMEOUT_MS,
      );
      const meta = await client.modelMetadata({ id }, this.o.rpcTimeoutMs);
      const shape = [1, ...o.inputShape.slice(1)];
      const data = Buffer.from(
        seededTensor(
          shape.reduce((a, b) => a * b, 1),
          0,
        ).buffer,
      );
      const req = { modelId: id, inputs: [{ name: meta.inputs[0].name, datatype: 'FP32', shape, data }] };
      const lat: number[] = [];
      const until = Date.now() + o.seconds * 1000;
      const t0 = Date.now();
      const caller = async () => {
        while (Date.now() < until && !o.signal?.aborted) {
          const s = process.hrtime.bigint();
          await client.infer(req, Math.max(LOAD_CALL_TIMEOUT_MS, this.o.rpcTimeoutMs));
          lat.push(Number(process.hrtime.bigint() - s) / 1e6);
        }
      };
      await Promise.all(Array.from({ length: layout.instances + 1 }, caller));
      o.signal?.throwIfAborted();
      const elapsed = (Date.now() - t0) / 1000;
      lat.sort((a, b) => a - b);
      return {
        ...layout,
        throughput: round(lat.length / elapsed, 2),
        p50Ms: round(percentile(lat, 50)),
        p95Ms: round(percentile(lat, 95)),
        peakRssMb: child.pid ? peakRssOf(child.pid) : null,
        runs: lat.length,
      };
    });
  }

  /** A fresh core process for one measurement, stopped afterwards (killed if the job is cancelled). */
  private async withCore<T>(
    signal: AbortSignal | undefined,
    fn: (client: NativeCoreClient, child: ChildProcess) => Promise<T>,
  ): Promise<T> {
    if (this.unavailableReason) throw new Error(this.unavailableReason);
    const port = await freePort();
    const child = spawn(this.o.binary, ['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn'], {
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
      return await fn(client, child);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      client.close();
      await stop(child);
    }
  }
}

/** The model loaded in a core process, as the shared measurement drives it. */
function coreEngine(
  client: NativeCoreApi,
  core: ChildProcess,
  m: { modelId: string; inputName: string; rpcTimeoutMs: number; vram: EngineUnderTest['vram'] },
): EngineUnderTest {
  const request = (input: Float32Array, shape: readonly number[]) => ({
    modelId: m.modelId,
    inputs: [
      {
        name: m.inputName,
        datatype: 'FP32',
        shape: [...shape],
        data: Buffer.from(input.buffer, input.byteOffset, input.byteLength),
      },
    ],
  });
  return {
    prepare: (input, shape) => {
      const req = request(input, shape);
      return () => client.infer(req, m.rpcTimeoutMs);
    },
    outputs: async (input, shape): Promise<OutputTensor[]> => {
      const r = await client.infer(request(input, shape), m.rpcTimeoutMs);
      return r.outputs.map((o) => ({
        dims: o.shape.map(Number),
        data: new Float32Array(o.data.buffer.slice(o.data.byteOffset, o.data.byteOffset + o.data.byteLength)),
      }));
    },
    peakRssMb: () => (core.pid ? peakRssOf(core.pid) : null),
    vram: m.vram,
  };
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

/** The process's resident high-water mark (VmHWM), in MB. */
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
