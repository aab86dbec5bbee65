import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectGpu, ortProviders, ortVersion, processVram } from './environment';
import { discoverProviders, interpretProbe, nvmlDevices, providerError } from './gpu-discovery';
import { VramSampler } from './vram-sampler';

const ROOT = path.resolve(__dirname, '../../..');

/** The GPU build staged by scripts/gpu-ort.sh (test-all.sh stages it before jest); never downloads here. */
function stagedGpuBuild(): string {
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/gpu-ort.sh'), 'dir'], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error('the ONNX Runtime GPU build is not staged: run `bash scripts/gpu-ort.sh stage` (test-all.sh does)');
  return r.stdout.trim();
}

describe('provider discovery (real onnxruntime-node, real NVML binding)', () => {
  it("onnxruntime-node's own library: CPU runs; each GPU provider loads or says exactly why not", () => {
    const d = discoverProviders();
    const cpu = d.providers.find((p) => p.name === 'cpu')!;
    expect(cpu).toMatchObject({ loads: true, error: null, device: null });
    expect(cpu.library).toMatch(/libonnxruntime\.so/);
    expect(d.ortVersion).toBe(ortVersion());
    for (const name of ['cuda', 'tensorrt'] as const) {
      const p = d.providers.find((x) => x.name === name)!;
      expect(p.library).toMatch(new RegExp(`libonnxruntime_providers_${name}\\.so$`));
      if (p.loads) {
        // A GPU host with the GPU build active: the provider ran the probe graph on a real device.
        expect(p.device?.name).toMatch(/\S/);
        expect(p.device!.freeMb).toBeGreaterThan(0);
        expect(p.error).toBeNull();
      } else {
        expect(p.error).toMatch(/cannot open shared object file|CUDA|TensorRT|no CUDA-capable device/);
        expect(p.device).toBeNull();
      }
    }
    expect(ortProviders()).toEqual(d.providers.filter((p) => p.loads).map((p) => p.name));
  });

  it('the staged GPU build: the C API library links and lists CUDA and TensorRT; onnxruntime-node loads it', () => {
    const dir = stagedGpuBuild();
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    // The C probe, linked against the staged libonnxruntime.so.1 at staging, is run again here.
    const probe = JSON.parse(execFileSync(path.join(dir, 'bin/ort-gpu-probe'), { encoding: 'utf8' }));
    expect(probe.version).toBe(ortVersion());
    expect(probe.library).toBe(path.join(dir, `lib/libonnxruntime.so.${probe.version}`));
    expect(probe.builtWith).toEqual(
      expect.arrayContaining(['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']),
    );
    expect(manifest.probe.version).toBe(probe.version);
    expect(Object.keys(manifest.files)).toEqual(
      expect.arrayContaining(['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_tensorrt.so']),
    );

    const d = discoverProviders({ libraryDir: path.join(dir, 'lib') });
    expect(d.coreLibrary).toBe(path.join(dir, `lib/libonnxruntime.so.${probe.version}`));
    expect(d.gpuBuild).toBe(true);
    expect(d.providers.find((p) => p.name === 'cpu')!.loads).toBe(true);
    const cuda = d.providers.find((p) => p.name === 'cuda')!;
    const cCuda = probe.providers.find((p: { name: string }) => p.name === 'cuda');
    if (!detectGpu().present) {
      // Every library from the registries resolves; what is missing is the driver, i.e. a GPU.
      expect(cuda).toMatchObject({ loads: false, device: null });
      expect(cuda.error).toBe('libcuda.so.1: cannot open shared object file: No such file or directory');
      expect(cCuda.error).toBe(cuda.error);
    } else if (cuda.loads) {
      expect(cuda.device!.name).toMatch(/\S/);
      expect(cuda.version).toMatch(/CUDA runtime 13\./);
    } else {
      // A GPU whose driver cannot run this CUDA 13 build: the reason is there, in the loader's words.
      expect(cuda.error).toMatch(/\S/);
    }
    const trt = d.providers.find((p) => p.name === 'tensorrt')!;
    if (!trt.loads) expect(trt.error).toMatch(/lib(nvinfer\.so\.10|cuda\.so\.1): cannot open shared object file/);
  });

  it('CVP_GPU=1 activation (on a copy of onnxruntime-node): it loads the GPU build, and deactivation restores the CPU one', () => {
    const dir = stagedGpuBuild();
    const copy = path.join(ROOT, 'tmp', `ort-activate-${process.pid}`, 'onnxruntime-node');
    const libDir = path.join(copy, 'bin/napi-v6/linux/x64');
    const script = path.join(ROOT, 'scripts/gpu-ort.sh');
    const env = { ...process.env, CVP_ORT_NODE_DIR: libDir };
    try {
      cpSync(path.dirname(require.resolve('onnxruntime-node/package.json')), copy, { recursive: true });
      execFileSync('bash', [script, 'activate'], { env, stdio: 'pipe' });
      expect(lstatSync(path.join(libDir, 'libonnxruntime.so.1')).isSymbolicLink()).toBe(true);
      expect(execFileSync('bash', [script, 'status'], { env, encoding: 'utf8' }).trim()).toBe(`gpu ${dir}`);
      const on = discoverProviders({ ortPackage: copy, fresh: true });
      expect(on.coreLibrary).toBe(path.join(dir, `lib/libonnxruntime.so.${ortVersion()}`));
      expect(on.gpuBuild).toBe(true);
      const cuda = on.providers.find((p) => p.name === 'cuda')!;
      if (!detectGpu().present)
        expect(cuda.error).toBe('libcuda.so.1: cannot open shared object file: No such file or directory');

      execFileSync('bash', [script, 'deactivate'], { env, stdio: 'pipe' });
      expect(lstatSync(path.join(libDir, 'libonnxruntime.so.1')).isFile()).toBe(true);
      expect(existsSync(path.join(libDir, 'libonnxruntime_providers_cuda.so'))).toBe(false);
      const off = discoverProviders({ ortPackage: copy, fresh: true });
      expect(off.gpuBuild).toBe(false);
      expect(off.coreLibrary).toBe(path.join(libDir, 'libonnxruntime.so.1'));
    } finally {
      rmSync(path.dirname(copy), { recursive: true, force: true });
    }
  });

  it('no GPU here: discovery says "no device" with NVML\'s reason, and the VRAM sampler returns null with it', async () => {
    const nvml = nvmlDevices();
    expect(nvml.binding).toMatch(/^nvidia-ml-py \d/);
    if (nvml.ok) {
      // A GPU host: the figures are real.
      expect(nvml.devices[0].totalMb).toBeGreaterThan(0);
      const s = VramSampler.start([process.pid], { intervalMs: 20 });
      const r = await s.stop();
      expect(r.error === null ? r.peakMb! >= 0 : typeof r.error === 'string').toBe(true);
      return;
    }
    expect(nvml.error).toMatch(/^no device: NVML: /);
    expect(detectGpu()).toMatchObject({ present: false, name: null });
    expect(detectGpu().reason).toContain(nvml.error);
    const sampler = VramSampler.start([process.pid], { intervalMs: 20 });
    const reading = await sampler.stop();
    expect(reading).toMatchObject({ peakMb: null, samples: 0 });
    expect(reading.error).toMatch(/^no device: NVML: /);
    expect(processVram(process.pid)).toEqual({ peakMb: null, reason: detectGpu().reason });
  });
});

describe("reading ONNX Runtime's errors (recorded outputs)", () => {
  const stderr = [
    '@@cvp-probe cpu',
    '@@cvp-probe cuda',
    '\u001b[1;31m2026-12-01 12:29:50.398 [E:onnxruntime:onnxruntime-node, provider_bridge_ort.cc:2146 Create] /src/provider_bridge_ort.cc:1988 Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library /x/libonnxruntime_providers_cuda.so with error: libcuda.so.1: cannot open shared object file: No such file or directory\u001b[m',
    '@@cvp-probe tensorrt',
    '\u001b[1;31m2026-12-01 12:29:51.000 [E:onnxruntime:onnxruntime-node, tensorrt_execution_provider.cc:1 X] [TensorRT EP] TensorRT version mismatch\u001b[m',
    '',
  ].join('\n');

  it('takes the loader error of each provider from its own section of stderr', () => {
    expect(providerError(stderr, 'cuda')).toBe(
      'libcuda.so.1: cannot open shared object file: No such file or directory',
    );
    expect(providerError(stderr, 'tensorrt')).toBe('[TensorRT EP] TensorRT version mismatch');
    expect(providerError(stderr, 'cpu')).toBeNull();
  });

  it('a provider that ran gets the device from NVML and the CUDA/TensorRT versions it mapped', () => {
    const nvml = {
      ok: true,
      binding: 'nvidia-ml-py 13.615.71',
      driver: '580.159.04',
      cudaDriver: '13.0',
      devices: [{ index: 0, name: 'NVIDIA H200', uuid: 'GPU-0', totalMb: 143771, freeMb: 143000, usedMb: 771 }],
      error: null,
    };
    const d = interpretProbe(
      {
        version: '1.30.0',
        providers: { cpu: { loads: true }, cuda: { loads: true }, tensorrt: { loads: false, status: 'Failed' } },
        mapped: ['/g/lib/libonnxruntime.so.1.30.0', '/g/lib/libcudart.so.13.0.96', '/g/lib/libnvinfer.so.10.16.1'],
      },
      stderr,
      nvml,
      '/g/lib',
      12,
    );
    expect(d.coreLibrary).toBe('/g/lib/libonnxruntime.so.1.30.0');
    expect(d.providers[1]).toMatchObject({
      name: 'cuda',
      loads: true,
      version: 'onnxruntime 1.30.0; CUDA runtime 13.0.96',
      device: nvml.devices[0],
      error: null,
    });
    expect(d.providers[2].error).toMatch(/^\[TensorRT EP\] TensorRT version mismatch \(onnxruntime-node's CPU build/);
  });
});

describe('VRAM sampler protocol (a stand-in sampler process: no GPU here)', () => {
  it('reads the running peak while sampling, and the final reading when stopped', async () => {
    const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'vram-'));
    const fake = path.join(dir, 'fake-python');
    // Speaks nvml.py's sample protocol: streamed peaks, then the summary once stdin closes.
    writeFileSync(
      fake,
      [
        '#!/bin/sh',
        'echo \'{"peakMb": 100.0, "samples": 1}\'',
        'echo \'{"peakMb": 250.5, "samples": 2}\'',
        'cat >/dev/null',
        'echo \'{"pids": [1], "peakMb": 250.5, "lastMb": 80.0, "samples": 5, "error": null}\'',
      ].join('\n'),
    );
    chmodSync(fake, 0o755);
    const s = VramSampler.start([1], { python: fake, intervalMs: 20 });
    const until = Date.now() + 10_000;
    while (s.peakSoFar() !== 250.5 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(s.peakSoFar()).toBe(250.5);
    await expect(s.stop()).resolves.toEqual({ peakMb: 250.5, lastMb: 80, samples: 5, error: null });
  });
});
