import * as path from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { PY_EXIT, asPyLine, type PyErrorLine, type PyProgressLine } from './python-wire';
import { JobCancelledError, PermanentJobError, RetryableJobError, runProcess } from '@cvp/jobs';
import {
  pythonSystemPaths,
  Sandbox,
  type SandboxAvailability,
  type SandboxConfig,
  sandboxConfigShape,
  type SandboxLaunch,
  sandboxLimits,
  type SandboxSpec,
} from '@cvp/sandbox';
import { z } from 'zod';
import { PYTHON_RUNNER_OPTIONS, type PythonRunnerOptions } from './python-runner.options';

/** The user files a command opens and where it writes: such a command runs in the sandbox. */
export interface UserFiles {
  /** Read-only inside the sandbox: the model file or version folder, the data set folder. */
  inputs: string[];
  /** Writable inside the sandbox (must exist). */
  outputs: string[];
  /**
   * The inputs may run code when opened (pickled .pt, TorchScript). Without a sandbox such a run is
   * refused; ONNX files and data sets carry no code and then still run, outside it.
   */
  mayRunCode: boolean;
}

/** Signals the sandbox's rlimits end a child with. */
const RLIMIT_SIGNALS: Partial<Record<NodeJS.Signals, string>> = {
  SIGXCPU: 'its CPU-time limit',
  SIGXFSZ: 'its file-size limit (CVP_SANDBOX_MAX_FILE_MB)',
};
const SIGNAL_NUMBERS: Record<number, NodeJS.Signals> = { 24: 'SIGXCPU', 25: 'SIGXFSZ', 9: 'SIGKILL' };

export interface PythonRunOptions {
  /** Aborted on job cancel, worker shutdown or lease loss. */
  signal?: AbortSignal;
  /** Overrides the default timeout for this command. */
  timeoutMs?: number;
  onProgress?: (line: PyProgressLine) => void;
  /** Extra environment for the child (on top of the offline defaults). */
  env?: Record<string, string>;
  /** Set when the command opens a user's model or data set: it then runs in the sandbox. */
  files?: UserFiles;
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
  private readonly log = new Logger('PythonRunner');
  private readonly sandboxConfig: SandboxConfig;
  private systemPaths?: Promise<string[]>;

  constructor(@Inject(PYTHON_RUNNER_OPTIONS) private readonly options: PythonRunnerOptions) {
    this.sandboxConfig = options.sandbox ?? z.object(sandboxConfigShape).parse({});
  }

  /** Whether this machine can build sandboxes, and why not (found once per process). */
  sandboxAvailability(): Promise<SandboxAvailability> {
    return Sandbox.detect({ bwrap: this.sandboxConfig.CVP_SANDBOX_BWRAP });
  }

  /**
   * Environment of a sandboxed child: the same switches, but no path of the data dir. Its scratch
   * (Ultralytics settings, fonts, matplotlib cache) lives in the sandbox's private /tmp, and
   * CVP_ALLOW_MODEL_CODE tells cvp_ml it may open files that run code (python/cvp_ml/safe_load.py).
   */
  sandboxEnv(extra: Record<string, string> = {}): Record<string, string> {
    const env = Object.fromEntries(
      Object.entries(this.childEnv(extra)).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
    return {
      ...env,
      PATH: `${path.dirname(this.options.python)}:/usr/bin:/bin`,
      HOME: '/tmp',
      TMPDIR: '/tmp',
      USER: 'cvp-sandbox',
      LOGNAME: 'cvp-sandbox',
      MPLCONFIGDIR: '/tmp/matplotlib',
      CVP_DATA_DIR: '/tmp/cvp',
      YOLO_CONFIG_DIR: '/tmp/cvp/ultralytics',
      PYTHONDONTWRITEBYTECODE: '1',
      CVP_ALLOW_MODEL_CODE: '1',
    };
  }

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
    const what = `cvp_ml ${command}`;
    const timeoutMs = opts.timeoutMs ?? this.options.defaultTimeoutMs;
    const pyArgs = ['-m', 'cvp_ml', command, ...args];
    const launch = opts.files ? await this.sandboxed(what, pyArgs, opts, timeoutMs) : null;
    const outcome = await runProcess({
      command: launch?.command ?? this.options.python,
      args: launch?.args ?? pyArgs,
      cwd: launch ? undefined : opts.cwd,
      env: launch ? {} : this.childEnv(opts.env),
      timeoutMs,
      signal: opts.signal,
      killGraceMs: this.options.killGraceMs,
      onJson: (obj) => {
        const line = asPyLine(obj);
        if (!line) return;
        if (line.type === 'progress') opts.onProgress?.(line);
        else if (line.type === 'result') result = line;
        else error = line;
      },
    })
      .catch((e: Error) => {
        // spawn itself failed (python missing, not executable): no retry will fix that
        throw new PermanentJobError(`cannot start ${launch?.command ?? this.options.python}: ${e.message}`);
      })
      .finally(() => launch?.release());
    const tail = lastLines(outcome.stderrTail, 5);
    if (outcome.aborted) {
      const reason = opts.abortReason?.();
      if (reason) throw new RetryableJobError(`${what} stopped: ${reason}`);
      throw new JobCancelledError(`${what} cancelled`);
    }
    if (outcome.timedOut) {
      throw new RetryableJobError(`${what} timed out after ${Math.round(timeoutMs / 1000)} s`);
    }
    // bubblewrap reports a child ended by a signal as 128 + its number.
    const sig =
      outcome.signal ??
      (launch && outcome.exitCode !== null && outcome.exitCode > 128 ? SIGNAL_NUMBERS[outcome.exitCode - 128] : null);
    const limit = sig ? RLIMIT_SIGNALS[sig] : undefined;
    if (launch && limit) throw new PermanentJobError(`${what} exceeded ${limit} in the sandbox and was stopped`);
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

  /**
   * The sandbox launch of one command: the python installation read-only, the data dir hidden, the
   * files it opens and writes bound in. Without a sandbox, a command whose input may run code is
   * refused; other inputs run outside it (logged).
   */
  private async sandboxed(
    what: string,
    pyArgs: string[],
    opts: PythonRunOptions,
    timeoutMs: number,
  ): Promise<SandboxLaunch | null> {
    const files = opts.files!;
    const availability = await this.sandboxAvailability();
    if (!availability.available) {
      if (files.mayRunCode)
        throw new PermanentJobError(
          `${what} refused: its input can run code when opened (pickled .pt or TorchScript) and no sandbox is available on this worker (${availability.reason}); ONNX models are still converted`,
        );
      this.log.warn(`${what} runs without a sandbox: ${availability.reason}`);
      return null;
    }
    const spec = await this.sandboxSpec(files, { env: opts.env, timeoutMs });
    try {
      return await availability.sandbox.enter(spec, this.options.python, pyArgs);
    } catch (e) {
      throw new PermanentJobError(`${what}: cannot prepare its sandbox: ${(e as Error).message}`);
    }
  }

  /** The sandbox of a python child that opens `files` (also written to a file for launchers, see tune). */
  async sandboxSpec(files: UserFiles, o: { env?: Record<string, string>; timeoutMs: number }): Promise<SandboxSpec> {
    this.systemPaths ??= pythonSystemPaths(this.options.python);
    return {
      system: await this.systemPaths,
      inputs: files.inputs,
      outputs: files.outputs,
      hide: [this.options.dataDir],
      env: this.sandboxEnv(o.env),
      limits: sandboxLimits(this.sandboxConfig, { timeoutMs: o.timeoutMs, threads: this.options.threadsPerChild }),
    };
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
