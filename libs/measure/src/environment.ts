import os from 'node:os';
import type { Environment } from '@cvp/contracts';
import {
  discoverProviders,
  discoverProvidersAsync,
  type NvmlReport,
  nvmlDevices,
  nvmlDevicesAsync,
} from './gpu-discovery';
import type { VramFigure } from './measurement';
import { readProcessVram, type VramReading, VramSampler } from './vram-sampler';

export interface GpuInfo {
  present: boolean;
  name: string | null;
  /** Why GPU engines cannot run here (when !present), in NVML's own words. */
  reason: string | null;
  /** Free memory of the first GPU when it was looked at (MiB). */
  freeMb?: number | null;
}

let nvmlCache: NvmlReport | undefined;

function gpuInfo(r: NvmlReport): GpuInfo {
  const d = r.devices[0];
  if (!r.ok || !d)
    return { present: false, name: null, reason: `no NVIDIA GPU (${r.error ?? 'no device'})`, freeMb: null };
  return { present: true, name: d.name, reason: null, freeMb: d.freeMb };
}

/** Whether NVML sees an NVIDIA GPU (nvidia-ml-py); asked once per process. Blocks while it asks: services use detectGpuAsync. */
export function detectGpu(): GpuInfo {
  nvmlCache ??= nvmlDevices();
  return gpuInfo(nvmlCache);
}

/** detectGpu without blocking the event loop (the query runs in a child python); shares its cache. */
export async function detectGpuAsync(): Promise<GpuInfo> {
  nvmlCache ??= await nvmlDevicesAsync();
  return gpuInfo(nvmlCache);
}

let ownWatch: VramSampler | undefined;

/**
 * Samples this process's GPU memory in the background from now on (a measurement child calls it
 * before creating its session), so ownVramPeak() is the peak over the whole run.
 */
export function watchProcessVram(intervalMs = 50): void {
  if (!ownWatch && detectGpu().present) ownWatch = VramSampler.start([process.pid], { intervalMs, background: true });
}

/**
 * What a VRAM reading says about a process that ran on the GPU. A process with a CUDA context
 * holds GPU memory, so 0 (or no entry in NVML's process list, common in containers that see host
 * PIDs or none) means NVML could not attribute its memory: null with the reason, never a 0 that
 * would pass a VRAM limit.
 */
export function vramFigure(r: VramReading, pids: readonly number[]): VramFigure {
  if (r.peakMb === null) return { peakMb: null, reason: r.error ?? 'NVML gave no figure' };
  if (r.peakMb <= 0)
    return {
      peakMb: null,
      reason: `NVML attributed no GPU memory to pid ${pids.join(', ')} although it ran on the GPU (in a container NVML may list host PIDs, or none)`,
    };
  return { peakMb: r.peakMb, reason: null };
}

/** Ends this process's watch (watchProcessVram) and returns the peak it sampled, or why there is none. */
export async function ownVramPeak(): Promise<VramFigure> {
  const gpu = detectGpu();
  if (!gpu.present) return { peakMb: null, reason: gpu.reason };
  if (!ownWatch) return { peakMb: null, reason: 'VRAM was not sampled during the run (no watch was started)' };
  const watch = ownWatch;
  ownWatch = undefined;
  return vramFigure(await watch.stop(), [process.pid]);
}

/** One NVML reading of a process now, judged as vramFigure does (a peak needs a VramSampler over the run). */
export function processVram(pid: number): VramFigure {
  const gpu = detectGpu();
  if (!gpu.present) return { peakMb: null, reason: gpu.reason };
  const r = readProcessVram(pid);
  return vramFigure({ ...r, peakMb: r.error ? null : r.lastMb }, [pid]);
}

/** Execution providers that really run in onnxruntime-node here (each loaded and run once). Blocks: services use ortProvidersAsync. */
export function ortProviders(): string[] {
  return discoverProviders()
    .providers.filter((p) => p.loads)
    .map((p) => p.name);
}

/** ortProviders without blocking the event loop; fills the same cache. */
export async function ortProvidersAsync(): Promise<string[]> {
  return (await discoverProvidersAsync()).providers.filter((p) => p.loads).map((p) => p.name);
}

export function ortVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('onnxruntime-node/package.json') as { version: string }).version;
}

/** Where the numbers were measured: CPU, cores, memory, library versions, providers. */
export function environmentFingerprint(extra: { nativeCore?: string | null } = {}): Environment {
  const cpus = os.cpus();
  const gpu = detectGpu();
  return {
    cpuModel: cpus[0]?.model?.trim() || 'unknown',
    cores: cpus.length,
    totalMemMb: Math.round(os.totalmem() / 1048576),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntimeNode: ortVersion(),
    nativeCore: extra.nativeCore ?? null,
    availableProviders: ortProviders(),
    gpu: gpu.name,
  };
}
