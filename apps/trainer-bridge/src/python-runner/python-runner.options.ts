import type { SandboxConfig } from '@cvp/sandbox';

export const PYTHON_RUNNER_OPTIONS = Symbol('PYTHON_RUNNER_OPTIONS');

export interface PythonRunnerOptions {
  /** Interpreter of the venv that has cvp_ml installed. */
  python: string;
  /** Absolute CVP_DATA_DIR handed to every child that runs outside the sandbox (and hidden from those inside). */
  dataDir: string;
  defaultTimeoutMs: number;
  /** SIGTERM -> SIGKILL grace; cancel must finish within 5 s end to end. */
  killGraceMs: number;
  threadsPerChild: number;
  /** Limits and the bubblewrap binary of the children that open user files (defaults when absent). */
  sandbox?: SandboxConfig;
}
