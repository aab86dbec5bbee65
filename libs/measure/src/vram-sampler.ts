import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { nvmlScript, pythonPath } from './gpu-discovery';

/** GPU memory NVML attributed to the watched processes while the sampler ran. */
export interface VramReading {
  /** Highest per-process figure seen (MiB); null when there is none, and `error` says why. */
  peakMb: number | null;
  lastMb: number | null;
  samples: number;
  error: string | null;
}

interface SamplerOutput extends VramReading {
  pids: number[];
}

const parse = (out: string): VramReading => {
  const r = JSON.parse(out.trim().split('\n').at(-1) ?? '') as SamplerOutput;
  return { peakMb: r.peakMb, lastMb: r.lastMb, samples: r.samples, error: r.error };
};

/**
 * Samples the GPU memory of some processes (by pid) through NVML, from a child python running
 * nvidia-ml-py, for the length of a run: start before the session is created, stop after the
 * last inference. The child stops when its stdin closes, so it cannot outlive this process.
 */
export class VramSampler {
  private output = '';
  private running: number | null = null;
  private readonly done: Promise<VramReading>;

  private constructor(
    private readonly child: ChildProcess | null,
    immediate: VramReading | null,
  ) {
    if (immediate || !child) {
      this.done = Promise.resolve(immediate ?? { peakMb: null, lastMb: null, samples: 0, error: 'not started' });
      return;
    }
    let pending = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.output += d;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      // --stream lines ({peakMb, samples}): the running peak, readable before the run ends
      for (const l of lines) {
        try {
          const r = JSON.parse(l) as Partial<SamplerOutput>;
          if (typeof r.peakMb === 'number' && r.pids === undefined)
            this.running = Math.max(this.running ?? 0, r.peakMb);
        } catch {
          /* not a reading */
        }
      }
    });
    this.done = new Promise((resolve) => {
      child.on('error', (e) =>
        resolve({ peakMb: null, lastMb: null, samples: 0, error: `VRAM sampler: ${e.message}` }),
      );
      child.on('close', (code, signal) => {
        try {
          resolve(parse(this.output));
        } catch {
          resolve({
            peakMb: null,
            lastMb: null,
            samples: 0,
            error: `VRAM sampler exited (${code ?? signal}) without a reading`,
          });
        }
      });
    });
  }

  static start(
    pids: number[],
    opts: { intervalMs?: number; maxS?: number; python?: string; background?: boolean } = {},
  ): VramSampler {
    const script = nvmlScript();
    if (!script)
      return new VramSampler(null, {
        peakMb: null,
        lastMb: null,
        samples: 0,
        error: 'no VRAM sampler: python/cvp_ml/nvml.py is not in this installation',
      });
    const args = [script, 'sample', ...pids.flatMap((p) => ['--pid', String(p)])];
    args.push('--interval-ms', String(opts.intervalMs ?? 50), '--max-s', String(opts.maxS ?? 3600), '--stream');
    const child = spawn(pythonPath(opts.python), args, { stdio: ['pipe', 'pipe', 'ignore'] });
    if (opts.background) {
      // Does not keep this process alive; it ends when this process's end closes its stdin.
      child.unref();
      (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    }
    return new VramSampler(child, null);
  }

  /** The highest figure seen so far (null until the first one), without stopping. */
  peakSoFar(): number | null {
    return this.running;
  }

  /** Ends sampling and returns the reading (bounded: the child is killed after 10 s). */
  async stop(): Promise<VramReading> {
    if (this.child && this.child.exitCode === null) {
      this.child.stdin?.end();
      const kill = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
      try {
        return await this.done;
      } finally {
        clearTimeout(kill);
      }
    }
    return this.done;
  }
}

/** One NVML reading of a process's GPU memory, now (sync); null with the reason where there is none. */
export function readProcessVram(pid: number, python?: string): VramReading {
  const script = nvmlScript();
  if (!script)
    return { peakMb: null, lastMb: null, samples: 0, error: 'python/cvp_ml/nvml.py is not in this installation' };
  try {
    return parse(
      execFileSync(pythonPath(python), [script, 'sample', '--pid', String(pid), '--once'], {
        encoding: 'utf8',
        timeout: 30_000,
      }),
    );
  } catch (e) {
    return {
      peakMb: null,
      lastMb: null,
      samples: 0,
      error: `NVML query failed: ${(e as Error).message.split('\n')[0]}`,
    };
  }
}
