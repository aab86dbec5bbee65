import os from 'node:os';
import type { Environment } from '@cvp/contracts';
import { discoverProviders, type NvmlReport, nvmlDevices } from './gpu-discovery';
import { readProcessVram, VramSampler } from './vram-sampler';

export interface GpuInfo {
  present: boolean;
  name: string | null;
  /** Why GPU engines cannot run here (when !present), in NVML's own words. */
  reason: string | null;
  /** Free memory of the first GPU when it was looked at (MiB). */
  freeMb?: number | null;
}

let nvmlCache: NvmlReport | undefined;

/** Whether NVML sees an NVIDIA GPU (nvidia-ml-py); asked once per process. */
export function detectGpu(): GpuInfo {
  nvmlCache ??= nvmlDevices();
  const d = nvmlCache.devices[0];
  if (!nvmlCache.ok || !d)
    return { present: false, name: null, reason: `no NVIDIA GPU (${nvmlCache.error ?? 'no device'})`, freeMb: null };
  return { present: true, name: d.name, reason: null, freeMb: d.freeMb };
}

let ownWatch: VramSampler | undefined;

/**
 * Samples this process's GPU memory in the background from now on (a measurement child calls it
 * before creating its session), so processVramMb(process.pid) is the peak over the whole run.
 */
export function watchProcessVram(intervalMs = 50): void {
  if (!ownWatch && detectGpu().present) ownWatch = VramSampler.start([process.pid], { intervalMs, background: true });
}

/**
 * GPU memory NVML attributes to a process (MiB): for this process under watchProcessVram, the peak
 * since the watch began; otherwise one reading now. Null where there is no GPU or no figure.
 */
export function processVramMb(pid: number): number | null {
  if (!detectGpu().present) return null;
  if (pid === process.pid && ownWatch) {
    const peak = ownWatch.peakSoFar();
    const now = readProcessVram(pid).lastMb;
    return peak === null ? now : Math.max(peak, now ?? 0);
  }
  return readProcessVram(pid).lastMb;
}

/** Execution providers that really run in onnxruntime-node here (each loaded and run once). */
export function ortProviders(): string[] {
  return discoverProviders()
    .providers.filter((p) => p.loads)
    .map((p) => p.name);
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
