/** Resource limits of one sandboxed child, applied with setrlimit (util-linux `prlimit`) before it starts. */
export interface SandboxLimits {
  /** RLIMIT_CPU: CPU seconds of the child, all threads together; SIGXCPU beyond it, SIGKILL 5 s later. */
  cpuSeconds: number;
  /**
   * RLIMIT_DATA: heap and private writable mappings, in bytes. Not RLIMIT_AS: CUDA reserves far more
   * address space than it uses, so an address-space cap would break GPU children.
   */
  memoryBytes: number;
  /** RLIMIT_FSIZE: the largest file the child may write (SIGXFSZ beyond it); also the size of its private /tmp. */
  fileSizeBytes: number;
  /** RLIMIT_NPROC: processes and threads the child may have at once (a fork bomb stops here). */
  processes: number;
  /** RLIMIT_NOFILE */
  openFiles: number;
}

/**
 * What one sandboxed child sees. Everything not listed is absent: no network, no data dir, no
 * database, no secrets, no other job's files, and an environment of exactly `env`.
 */
export interface SandboxSpec {
  /** Read-only: the interpreter and the code it runs (a venv, site-packages, the repo's scripts). */
  system: string[];
  /** Read-only: the one input (a model file, a model version's folder, a data set's folder). */
  inputs: string[];
  /** Read-write: the output folders; they must exist. */
  outputs: string[];
  /**
   * Folders that stay invisible even where a system path contains them (the data dir when it lies
   * inside the repo): an empty tmpfs covers them, and only `inputs`/`outputs` inside are bound back.
   */
  hide: string[];
  /** The child's whole environment. */
  env: Record<string, string>;
  /** Working directory inside the sandbox (default: the first output, else /tmp). */
  cwd?: string;
  limits: SandboxLimits;
}

/** Defaults sized for one conversion or one CPU training on a small machine; every service may override them. */
export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  cpuSeconds: 3600,
  memoryBytes: 8 * 1024 ** 3,
  fileSizeBytes: 4 * 1024 ** 3,
  processes: 256,
  openFiles: 1024,
};
