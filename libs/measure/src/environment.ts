import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import type { Environment } from '@cvp/contracts';

export interface GpuInfo {
  present: boolean;
  name: string | null;
  /** Why GPU engines cannot run here (when !present or the providers are missing). */
  reason: string | null;
}

/** ORT execution providers that can actually run here: GPU ones need their libraries and a device. */
export function detectGpu(): GpuInfo {
  const device = existsSync('/dev/nvidia0') || existsSync('/proc/driver/nvidia/version');
  if (!device) return { present: false, name: null, reason: 'no NVIDIA GPU on this host (/dev/nvidia0 absent)' };
  let name: string | null = null;
  try {
    name = readFileSync('/proc/driver/nvidia/gpus', 'utf8').split('\n')[0] || 'NVIDIA GPU';
  } catch {
    name = 'NVIDIA GPU';
  }
  return { present: true, name, reason: null };
}

/**
 * GPU memory a process holds now, through NVML's command-line face (nvidia-smi); null where
 * there is no GPU or no nvidia-smi. Sampled while the session is loaded, its arena still held.
 */
export function processVramMb(pid: number): number | null {
  if (!detectGpu().present) return null;
  try {
    const out = execFileSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
      timeout: 5000,
    });
    const line = out.split('\n').find((l) => l.split(',')[0]?.trim() === String(pid));
    return line ? Number(line.split(',')[1]) : 0;
  } catch {
    return null;
  }
}

/** Execution providers onnxruntime-node can load here (CUDA/TensorRT ship unbundled). */
export function ortProviders(): string[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ort = require('onnxruntime-node') as { listSupportedBackends?: () => { name: string; bundled: boolean }[] };
  const gpu = detectGpu().present;
  return (ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }])
    .filter((b) => b.name !== 'webgpu' && (b.bundled || gpu))
    .map((b) => b.name);
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
