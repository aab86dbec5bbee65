import { Inject, Injectable } from '@nestjs/common';
import { PY_EXIT, asPyLine, type PyErrorLine, type PyProgressLine } from './python-wire';
import { JobCancelledError, PermanentJobError, RetryableJobError, runProcess } from '@cvp/jobs';
import { PYTHON_RUNNER_OPTIONS, type PythonRunnerOptions } from './python-runner.options';

export interface PythonRunOptions {
  /** Aborted on job cancel, worker shutdown or lease loss. */
  signal?: AbortSignal;
  /** Overrides the default timeout for this command. */
  timeoutMs?: number;
  onProgress?: (line: PyProgressLine) => void;
  /** Extra environment for the child (on top of the offline defaults). */
  env?: Record<string, string>;
  cwd?: string;
  /** Why an abort happened, for the error message (e.g. "GPU lease lost"). */
  abortReason?: () => string | undefined;
}

/**
 * Runs `python -m cvp_ml <command>` and turns its wire format into promises and job errors:
 * exit 0 -> the `result` line; 2 bad input and 3 out-of-memory -> PermanentJobError;
 * 4 or our own abort -> JobCancelledError; anything else (crash, timeout) -> RetryableJobError.
 */
@Injectable()
export class PythonRunner {
  constructor(@Inject(PYTHON_RUNNER_OPTIONS) private readonly options: PythonRunnerOptions) {}

  /** Environment every child gets: the shared data dir and Ultralytics' offline switches. */
  childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const s = this.options;
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? s.dataDir,
      LANG: process.env.LANG ?? 'C.UTF-8',
      CVP_DATA_DIR: s.dataDir,
      // "true" exactly: Ultralytics ignores "1".
      YOLO_OFFLINE: 'true',
      YOLO_AUTOINSTALL: 'false',
      YOLO_CONFIG_DIR: `${s.dataDir}/ultralytics`,
      HF_HUB_OFFLINE: '1',
      WANDB_MODE: 'disabled',
      PYTHONUNBUFFERED: '1',
      // One trial must not take every core of a shared machine.
      OMP_NUM_THREADS: String(s.threadsPerChild),
      MKL_NUM_THREADS: String(s.threadsPerChild),
      ...(process.env.CUDA_VISIBLE_DEVICES !== undefined
        ? { CUDA_VISIBLE_DEVICES: process.env.CUDA_VISIBLE_DEVICES }
        : {}),
      ...extra,
    };
  }

  get pythonPath(): string {
    return this.options.python;
  }

  async run(command: string, args: string[], opts: PythonRunOptions = {}): Promise<Record<string, unknown>> {
    let result: Record<string, unknown> | undefined;
    let error: PyErrorLine | undefined;
    const outcome = await runProcess({
      command: this.options.python,
      args: ['-m', 'cvp_ml', command, ...args],
      cwd: opts.cwd,
      env: this.childEnv(opts.env),
      timeoutMs: opts.timeoutMs ?? this.options.defaultTimeoutMs,
      signal: opts.signal,
      killGraceMs: this.options.killGraceMs,
      onJson: (obj) => {
        const line = asPyLine(obj);
        if (!line) return;
        if (line.type === 'progress') opts.onProgress?.(line);
        else if (line.type === 'result') result = line;
        else error = line;
      },
    }).catch((e: Error) => {
      // spawn itself failed (python missing, not executable): no retry will fix that
      throw new PermanentJobError(`cannot start ${this.options.python}: ${e.message}`);
    });
    const what = `cvp_ml ${command}`;
    const tail = lastLines(outcome.stderrTail, 5);
    if (outcome.aborted) {
      const reason = opts.abortReason?.();
      if (reason) throw new RetryableJobError(`${what} stopped: ${reason}`);
      throw new JobCancelledError(`${what} cancelled`);
    }
    if (outcome.timedOut) {
      throw new RetryableJobError(
        `${what} timed out after ${Math.round((opts.timeoutMs ?? this.options.defaultTimeoutMs) / 1000)} s`,
      );
    }
    if (outcome.exitCode === PY_EXIT.ok && result) return result;
    const message = error ? `${error.code}: ${error.message}` : tail || 'no output';
    switch (outcome.exitCode) {
      case PY_EXIT.ok:
        throw new RetryableJobError(`${what} exited 0 without a result line`);
      case PY_EXIT.badInput:
        throw new PermanentJobError(`${what} refused its input: ${message}`);
      case PY_EXIT.oom:
        throw new PermanentJobError(
          `${what} ran out of memory (${message}); lower batch or imgsz, or use a smaller model`,
        );
      case PY_EXIT.cancelled:
        throw new JobCancelledError(`${what} cancelled`);
      default:
        throw new RetryableJobError(
          `${what} failed (exit ${outcome.exitCode ?? `signal ${outcome.signal}`}): ${message}${error && tail ? `\n${tail}` : ''}`,
        );
    }
  }

  /** `cvp_ml` importable and its version, bounded; used once at start-up for readiness. */
  async version(timeoutMs = 60_000): Promise<string> {
    let out = '';
    const outcome = await runProcess({
      command: this.options.python,
      args: ['-c', 'import cvp_ml; print(cvp_ml.__version__)'],
      env: this.childEnv(),
      timeoutMs,
      killGraceMs: 1000,
      onText: (l) => (out = l.trim()),
    });
    if (outcome.exitCode !== 0 || !out) {
      throw new Error(
        outcome.timedOut
          ? `python did not answer within ${timeoutMs} ms`
          : `cvp_ml is not importable: ${lastLines(outcome.stderrTail, 3) || `exit ${outcome.exitCode}`}`,
      );
    }
    return out;
  }
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join('\n');
}
