import { z } from 'zod';
import type { SandboxLimits } from './sandbox-spec';

/** Config keys of every service that runs sandboxed children (each app spreads this into its schema). */
export const sandboxConfigShape = {
  /** bubblewrap executable (name on PATH or a path). */
  CVP_SANDBOX_BWRAP: z.string().min(1).default('bwrap'),
  /** Heap of one sandboxed child (RLIMIT_DATA), MiB. */
  CVP_SANDBOX_MEMORY_MB: z.coerce.number().int().min(64).max(1_048_576).default(8192),
  /** Largest file one sandboxed child may write (RLIMIT_FSIZE), and the size of its private /tmp, MiB. */
  CVP_SANDBOX_MAX_FILE_MB: z.coerce.number().int().min(1).max(1_048_576).default(4096),
  /** Processes and threads of one sandboxed child (RLIMIT_NPROC). */
  CVP_SANDBOX_MAX_PROCESSES: z.coerce.number().int().min(8).max(65_536).default(256),
  /** Open files of one sandboxed child (RLIMIT_NOFILE). */
  CVP_SANDBOX_MAX_OPEN_FILES: z.coerce.number().int().min(64).max(1_048_576).default(1024),
};
export type SandboxConfig = { [K in keyof typeof sandboxConfigShape]: z.infer<(typeof sandboxConfigShape)[K]> };

/**
 * Limits for one child from the config: CPU seconds follow the run's wall-clock limit times the
 * threads it may use (the wall-clock limit stays the one that normally ends a run).
 */
export function sandboxLimits(c: SandboxConfig, run: { timeoutMs: number; threads: number }): SandboxLimits {
  return {
    cpuSeconds: Math.max(10, Math.ceil((run.timeoutMs / 1000) * Math.max(1, run.threads))),
    memoryBytes: c.CVP_SANDBOX_MEMORY_MB * 1024 ** 2,
    fileSizeBytes: c.CVP_SANDBOX_MAX_FILE_MB * 1024 ** 2,
    processes: c.CVP_SANDBOX_MAX_PROCESSES,
    openFiles: c.CVP_SANDBOX_MAX_OPEN_FILES,
  };
}
