import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';

export type OrtProviderName = 'cpu' | 'cuda' | 'tensorrt';

export interface GpuDevice {
  index: number;
  name: string;
  uuid: string;
  totalMb: number;
  freeMb: number;
  usedMb: number;
}

/** What NVML (through nvidia-ml-py) says about this host's GPUs, or why it cannot say. */
export interface NvmlReport {
  ok: boolean;
  binding: string | null;
  driver: string | null;
  cudaDriver: string | null;
  devices: GpuDevice[];
  error: string | null;
}

export interface ProviderStatus {
  name: OrtProviderName;
  /** A session on this provider was created and ran a probe graph correctly. */
  loads: boolean;
  /** The library behind it (GPU providers: the provider library beside the core library). */
  library: string | null;
  /** ONNX Runtime's version, plus the CUDA runtime / TensorRT version it loaded where it did. */
  version: string | null;
  /** The GPU it runs on (providers that load on a GPU). */
  device: GpuDevice | null;
  /** Why it does not load, in the dynamic loader's or ONNX Runtime's own words. */
  error: string | null;
}

export interface ProviderDiscovery {
  /** The libonnxruntime onnxruntime-node really loaded (resolved path). */
  coreLibrary: string | null;
  ortVersion: string | null;
  /** The folder where ONNX Runtime looks for provider libraries holds the CUDA one. */
  gpuBuild: boolean;
  nvml: NvmlReport;
  providers: ProviderStatus[];
  probeMs: number;
}

export interface DiscoveryOptions {
  /**
   * Load libonnxruntime.so.1 from this folder instead of onnxruntime-node's own (e.g. a staged GPU
   * build: scripts/gpu-ort.sh stage). Default: whatever onnxruntime-node loads.
   */
  libraryDir?: string;
  /** Python with nvidia-ml-py; default CVP_PYTHON, else python/.venv/bin/python. */
  python?: string;
  /** The onnxruntime-node package folder to load (default: the one this process resolves). */
  ortPackage?: string;
  /** Probe again even if this process already has an answer (the library was swapped meanwhile). */
  fresh?: boolean;
  timeoutMs?: number;
}

/** Add(x, x) on a [1, 4] float input: small enough for any provider, and its answer is known. */
const PROBE_MODEL_B64 =
  'CAgSA2N2cDpBCg4KAXgKAXgSAXkiA0FkZBIFcHJvYmVaEwoBeBIOCgwIARIICgIIAQoCCARiEwoBeRIOCgwIARIICgIIAQoCCARCBAoAEA0=';

// Runs in a child: loading a GPU provider can abort or hang a process, and the loader's own error
// text only reaches stderr (ONNX Runtime logs it and returns a generic status).
const PROBE_SOURCE = `
const ort = require(process.argv[1]);
const fs = require('node:fs');
const model = Buffer.from(process.argv[2], 'base64');
(async () => {
  const res = { version: ort.env.versions.node, providers: {} };
  for (const ep of ['cpu', 'cuda', 'tensorrt']) {
    process.stderr.write('@@cvp-probe ' + ep + '\\n');
    try {
      const s = await ort.InferenceSession.create(model, { executionProviders: [ep] });
      const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [1, 4]) });
      await s.release();
      res.providers[ep] = out.y.data[3] === 8 ? { loads: true } : { loads: false, status: 'the probe graph gave a wrong answer' };
    } catch (e) {
      res.providers[ep] = { loads: false, status: String((e && e.message) || e) };
    }
  }
  res.mapped = [...new Set(fs.readFileSync('/proc/self/maps', 'utf8').split('\\n')
    .map((l) => l.slice(l.indexOf('/')))
    .filter((p) => p.startsWith('/') && /lib(onnxruntime|cudart|nvinfer)[^/]*\\.so/.test(p)))];
  process.stdout.write(JSON.stringify(res));
})();
`;

interface ProbeOutput {
  version: string;
  providers: Record<OrtProviderName, { loads: boolean; status?: string }>;
  mapped: string[];
}

/** The repo's copy of a file (python/cvp_ml/nvml.py), from src/ or dist/ alike. */
function repoFile(rel: string): string | null {
  for (let dir = __dirname, i = 0; i < 8; i++, dir = path.dirname(dir)) {
    const p = path.join(dir, rel);
    if (existsSync(p)) return p;
  }
  return null;
}

export function pythonPath(given?: string): string {
  if (given) return given;
  if (process.env.CVP_PYTHON) return path.resolve(process.env.CVP_PYTHON);
  const venv = repoFile('python/.venv/bin/python');
  return venv ?? 'python3';
}

export function nvmlScript(): string | null {
  return repoFile('python/cvp_ml/nvml.py');
}

const noDevice = (error: string): NvmlReport => ({
  ok: false,
  binding: null,
  driver: null,
  cudaDriver: null,
  devices: [],
  error,
});

/** NVML's view of the GPUs (nvidia-ml-py in a child python), never throws. Blocks while python runs (about a second). */
export function nvmlDevices(python?: string): NvmlReport {
  const script = nvmlScript();
  if (!script) return noDevice('no device query: python/cvp_ml/nvml.py is not in this installation');
  const py = pythonPath(python);
  try {
    const out = execFileSync(py, [script, 'devices'], { encoding: 'utf8', timeout: 30_000 });
    return JSON.parse(out) as NvmlReport;
  } catch (e) {
    return noDevice(`no device query: ${py} ${path.basename(script)} failed: ${(e as Error).message.split('\n')[0]}`);
  }
}

interface ChildResult {
  stdout: string;
  stderr: string;
  status: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A child's output without blocking the event loop; killed at the timeout, output capped. */
function runChild(
  command: string,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; timeoutMs: number; maxBytes?: number },
): Promise<ChildResult> {
  return new Promise((resolve) => {
    const max = o.maxBytes ?? 16 << 20;
    let stdout = '';
    let stderr = '';
    let error: Error | undefined;
    const child = spawn(command, args, { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      error = new Error(`timed out after ${o.timeoutMs} ms`);
      child.kill('SIGKILL');
    }, o.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout = (stdout + d).slice(0, max)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-max)));
    child.on('error', (e) => (error = e));
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, status, signal, error });
    });
  });
}

/** nvmlDevices without blocking the event loop. */
export async function nvmlDevicesAsync(python?: string): Promise<NvmlReport> {
  const script = nvmlScript();
  if (!script) return noDevice('no device query: python/cvp_ml/nvml.py is not in this installation');
  const py = pythonPath(python);
  const r = await runChild(py, [script, 'devices'], { timeoutMs: 30_000 });
  try {
    if (r.status !== 0) throw new Error(r.error?.message ?? `exit ${r.status ?? r.signal}: ${r.stderr.slice(-300)}`);
    return JSON.parse(r.stdout) as NvmlReport;
  } catch (e) {
    return noDevice(`no device query: ${py} ${path.basename(script)} failed: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The exact error ONNX Runtime logged for one provider's section of the probe's stderr. */
export function providerError(stderr: string, provider: OrtProviderName): string | null {
  const sections = stderr.split(/^@@cvp-probe /m);
  const mine = sections.find((s) => s.startsWith(`${provider}\n`));
  if (!mine) return null;
  const lines = mine
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((l) => /\[E:onnxruntime/.test(l));
  for (const l of lines) {
    const m = / with error: (.*)$/.exec(l);
    if (m) return m[1].trim();
  }
  const last = lines.at(-1);
  return last ? last.replace(/^.*?\[E:onnxruntime:[^\]]*\]\s*/, '').trim() : null;
}

function ortPackageDir(given?: string): string {
  return given ?? path.dirname(require.resolve('onnxruntime-node/package.json'));
}

const real = (p: string) => {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
};

/** Builds the discovery from a probe's output (pure: unit-tested with recorded outputs). */
export function interpretProbe(
  probe: ProbeOutput,
  stderr: string,
  nvml: NvmlReport,
  providerDir: string,
  probeMs: number,
): ProviderDiscovery {
  const core = probe.mapped.find((p) => /\/libonnxruntime\.so/.test(p)) ?? null;
  const cudart = probe.mapped.find((p) => /libcudart\.so/.test(p));
  const nvinfer = probe.mapped.find((p) => /libnvinfer\.so/.test(p));
  const soVersion = (p: string | undefined) => (p ? /\.so\.([\d.]+)$/.exec(p)?.[1] : undefined);
  const device = nvml.devices[0] ?? null;
  const providers: ProviderStatus[] = (['cpu', 'cuda', 'tensorrt'] as const).map((name) => {
    const r = probe.providers[name] ?? { loads: false, status: 'not probed' };
    const lib = name === 'cpu' ? core : real(path.join(providerDir, `libonnxruntime_providers_${name}.so`)) || null;
    let version = probe.version ? `onnxruntime ${probe.version}` : null;
    if (r.loads && name !== 'cpu' && soVersion(cudart)) version += `; CUDA runtime ${soVersion(cudart)}`;
    if (r.loads && name === 'tensorrt' && soVersion(nvinfer)) version += `; TensorRT ${soVersion(nvinfer)}`;
    let error: string | null = null;
    if (!r.loads) {
      error = providerError(stderr, name) ?? r.status ?? 'unknown';
      if (name !== 'cpu' && !existsSync(path.join(providerDir, `libonnxruntime_providers_${name}.so`)))
        error = `${error} (onnxruntime-node's CPU build has no ${name} provider library: CVP_GPU=1 npm start installs the GPU build)`;
    }
    return { name, loads: r.loads, library: lib, version, device: r.loads && name !== 'cpu' ? device : null, error };
  });
  return {
    coreLibrary: core,
    ortVersion: probe.version ?? null,
    gpuBuild: existsSync(path.join(providerDir, 'libonnxruntime_providers_cuda.so')),
    nvml,
    providers,
    probeMs,
  };
}

const cache = new Map<string, ProviderDiscovery>();

function probeSetup(opts: DiscoveryOptions) {
  const key = `${opts.libraryDir ?? ''}|${opts.python ?? ''}|${opts.ortPackage ?? ''}`;
  const pkg = ortPackageDir(opts.ortPackage);
  const providerDir = opts.libraryDir ?? path.join(pkg, 'bin/napi-v6/linux/x64');
  const env = { ...process.env };
  // The binding's RUNPATH ($ORIGIN) comes after LD_LIBRARY_PATH, so this picks the library to load.
  if (opts.libraryDir) env.LD_LIBRARY_PATH = [opts.libraryDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return { key, pkg, providerDir, env, args: ['-e', PROBE_SOURCE, pkg, PROBE_MODEL_B64] };
}

function parseProbe(r: { stdout: string; status: number | null; signal: NodeJS.Signals | null; error?: Error }) {
  try {
    return JSON.parse(r.stdout) as ProbeOutput;
  } catch {
    const why = `the provider probe failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`;
    const failed = { loads: false, status: why };
    return { version: '', providers: { cpu: failed, cuda: failed, tensorrt: failed }, mapped: [] } as ProbeOutput;
  }
}

/**
 * Which ONNX Runtime execution providers really run here: each one is loaded in a child process
 * and runs a probe graph; GPU devices and free memory come from NVML. Cached per process. Blocks
 * the event loop while the probe runs (about a second): services use discoverProvidersAsync.
 */
export function discoverProviders(opts: DiscoveryOptions = {}): ProviderDiscovery {
  const p = probeSetup(opts);
  const hit = opts.fresh ? undefined : cache.get(p.key);
  if (hit) return hit;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, p.args, {
    env: p.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 16 << 20,
  });
  const result = interpretProbe(
    parseProbe({ stdout: r.stdout, status: r.status, signal: r.signal, error: r.error }),
    r.stderr ?? '',
    nvmlDevices(opts.python),
    p.providerDir,
    Date.now() - t0,
  );
  cache.set(p.key, result);
  return result;
}

/** discoverProviders without blocking the event loop; shares its cache. */
export async function discoverProvidersAsync(opts: DiscoveryOptions = {}): Promise<ProviderDiscovery> {
  const p = probeSetup(opts);
  const hit = opts.fresh ? undefined : cache.get(p.key);
  if (hit) return hit;
  const t0 = Date.now();
  const [r, nvml] = await Promise.all([
    runChild(process.execPath, p.args, { env: p.env, timeoutMs: opts.timeoutMs ?? 120_000 }),
    nvmlDevicesAsync(opts.python),
  ]);
  const result = interpretProbe(parseProbe(r), r.stderr, nvml, p.providerDir, Date.now() - t0);
  cache.set(p.key, result);
  return result;
}
