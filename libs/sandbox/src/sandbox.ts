import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { ETC_FILES, inspectHost, type SandboxHost, tasksOfUser } from './sandbox-host';
import type { SandboxSpec } from './sandbox-spec';

/** Root mode: each sandbox runs as a uid of its own from this range (no account, owns nothing on the host). */
export const SANDBOX_UID_BASE = 200_000;
const SANDBOX_UID_SPAN = 100_000;
/** Bound on the files an output folder may hold when ownership is handed back after the run. */
const MAX_OUTPUT_ENTRIES = 200_000;

/** A command line that runs inside the sandbox, and what to do once it has exited. */
export interface SandboxLaunch {
  command: string;
  args: string[];
  /** Hands the outputs back to this process (ownership) and removes links and special files the child left there. */
  release(): Promise<void>;
}

export type SandboxAvailability = { available: true; sandbox: Sandbox } | { available: false; reason: string };

/** The child's identity and process cap (root mode: a uid of its own; otherwise this user's). */
export interface SandboxIdentity {
  uid: number;
  gid: number;
  /** RLIMIT_NPROC to set: the spec's process cap, plus what this user already runs when it is shared. */
  nproc: number;
}

const inside = (root: string, p: string) => p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
const ancestors = (p: string) => {
  const out: string[] = [];
  for (let d = path.dirname(p); d !== '/' && d !== '.'; d = path.dirname(d)) out.unshift(d);
  return out;
};

/**
 * bubblewrap arguments for one child. Order matters: the system view first, then an empty tmpfs
 * over every hidden folder, then the inputs (read-only) and outputs (read-write) bound back at
 * their own paths, so a child's command line and result paths mean the same inside and out.
 * Folders bubblewrap creates on the way are 0755, so an unprivileged child can walk to its files.
 */
export function bwrapArgs(
  host: SandboxHost,
  spec: SandboxSpec,
  who: SandboxIdentity,
  command: string,
  args: string[],
): string[] {
  const a: string[] = ['--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try'];
  // Without root, bubblewrap needs a user namespace; with root it mounts directly and setpriv drops the child.
  if (!host.setpriv) a.push('--unshare-user', '--cap-drop', 'ALL');
  a.push('--die-with-parent', '--clearenv');
  for (const [k, v] of Object.entries(spec.env)) a.push('--setenv', k, v);

  for (const [link, target] of Object.entries(host.rootLinks)) a.push('--symlink', target, link);
  for (const dir of host.rootDirs) a.push('--ro-bind', dir, dir);
  // Folders bubblewrap makes for a mount point are 0700: the unprivileged child could not enter /etc.
  a.push('--perms', '0755', '--dir', '/etc');
  for (const f of ETC_FILES) a.push('--ro-bind-try', f, f);
  a.push('--proc', '/proc', '--dev', '/dev');
  // POSIX semaphores and shared memory (Python's multiprocessing locks, PyTorch's data loader
  // workers) live in /dev/shm, which bubblewrap's minimal /dev leaves out; private to this sandbox.
  a.push('--size', String(spec.limits.fileSizeBytes), '--perms', '1777', '--tmpfs', '/dev/shm');
  for (const d of host.gpuDevices) a.push('--dev-bind-try', d, d);
  // NVML and CUDA read the PCI tree; only GPU hosts get a read-only /sys.
  if (host.gpuDevices.length) a.push('--ro-bind-try', '/sys', '/sys');
  a.push('--size', String(spec.limits.fileSizeBytes), '--perms', '1777', '--tmpfs', '/tmp');

  const made = new Set<string>(['/tmp']);
  const bound: string[] = [...host.rootDirs];
  const hidden: string[] = [];
  const present = (p: string) =>
    made.has(p) || (bound.some((b) => inside(b, p)) && !hidden.some((h) => inside(h, p) && h !== p));
  const parents = (target: string) => {
    for (const d of ancestors(target)) {
      if (present(d)) continue;
      a.push('--perms', '0755', '--dir', d);
      made.add(d);
    }
  };

  for (const p of spec.system) {
    parents(p);
    a.push('--ro-bind', p, p);
    bound.push(p);
  }
  for (const h of spec.hide) {
    if (!spec.system.some((s) => inside(s, h))) continue; // not visible anyway
    a.push('--perms', '0755', '--tmpfs', h);
    hidden.push(h);
    made.add(h);
  }
  for (const p of spec.inputs) {
    parents(p);
    a.push('--ro-bind', p, p);
    bound.push(p);
  }
  for (const p of spec.outputs) {
    parents(p);
    a.push('--bind', p, p);
    bound.push(p);
  }
  a.push('--chdir', spec.cwd ?? spec.outputs[0] ?? '/tmp');

  const l = spec.limits;
  const limits = [
    `--cpu=${l.cpuSeconds}:${l.cpuSeconds + 5}`,
    `--data=${l.memoryBytes}`,
    `--fsize=${l.fileSizeBytes}`,
    `--nproc=${who.nproc}`,
    `--nofile=${l.openFiles}`,
    '--core=0',
  ];
  const inner = [host.prlimit, ...limits, '--', command, ...args];
  if (host.setpriv)
    inner.unshift(
      host.setpriv,
      `--reuid=${who.uid}`,
      `--regid=${who.gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
    );
  a.push('--', ...inner);
  return a;
}

/** Checks a spec before anything runs: absolute paths, outputs that exist, no system path inside a hidden one. */
export function validateSpec(spec: SandboxSpec): void {
  for (const p of [...spec.system, ...spec.inputs, ...spec.outputs, ...spec.hide])
    if (!path.isAbsolute(p) || path.normalize(p) !== p || p === '/')
      throw new Error(`sandbox path ${JSON.stringify(p)} must be absolute and normalised (and not /)`);
  for (const s of spec.system)
    for (const h of spec.hide) if (inside(h, s)) throw new Error(`sandbox system path ${s} lies inside hidden ${h}`);
  for (const o of spec.outputs) if (!statSync(o).isDirectory()) throw new Error(`sandbox output ${o} is not a folder`);
  for (const i of spec.inputs) statSync(i); // throws ENOENT with the path
}

/** Visits every entry under `dir` (no links followed), at most `max`. */
async function walk(dir: string, visit: (p: string, st: import('node:fs').Stats) => Promise<void>, max: number) {
  const stack = [dir];
  let n = 0;
  while (stack.length && n < max) {
    const d = stack.pop()!;
    let names: string[];
    try {
      names = await fs.readdir(d);
    } catch {
      continue;
    }
    for (const name of names) {
      if (++n > max) return;
      const p = path.join(d, name);
      let st;
      try {
        st = await fs.lstat(p);
      } catch {
        continue;
      }
      await visit(p, st);
      if (st.isDirectory()) stack.push(p);
    }
  }
}

/**
 * Runs children in bubblewrap: no network (own network namespace), own pid/ipc/uts namespaces, a
 * read-only system, the spec's input and output only, an empty environment apart from the spec's,
 * and rlimits on CPU time, memory, file size, processes and open files.
 */
export class Sandbox {
  private static probes = new Map<string, Promise<SandboxAvailability>>();

  constructor(readonly host: SandboxHost) {}

  /**
   * Whether sandboxes work on this machine (bubblewrap installed, namespaces allowed), found once
   * per process by running a trivial child; the reason when they do not.
   */
  static detect(o: { bwrap?: string; timeoutMs?: number } = {}): Promise<SandboxAvailability> {
    const key = o.bwrap ?? 'bwrap';
    let p = Sandbox.probes.get(key);
    if (!p) {
      p = Sandbox.probe(o);
      Sandbox.probes.set(key, p);
    }
    return p;
  }

  private static async probe(o: { bwrap?: string; timeoutMs?: number }): Promise<SandboxAvailability> {
    const host = inspectHost(o);
    if ('unavailable' in host) return { available: false, reason: host.unavailable };
    const sandbox = new Sandbox(host);
    const launch = await sandbox.enter(
      {
        system: [],
        inputs: [],
        outputs: [],
        hide: [],
        env: { PATH: '/usr/bin:/bin' },
        limits: { cpuSeconds: 10, memoryBytes: 256 << 20, fileSizeBytes: 1 << 20, processes: 16, openFiles: 64 },
      },
      'true',
      [],
    );
    return new Promise((resolve) => {
      execFile(launch.command, launch.args, { timeout: o.timeoutMs ?? 15_000 }, (err, _out, stderr) => {
        void launch.release();
        if (!err) return resolve({ available: true, sandbox });
        const why = String(stderr).trim().split('\n').slice(-2).join(' ') || err.message;
        resolve({ available: false, reason: `bubblewrap cannot create a sandbox here: ${why}` });
      });
    });
  }

  /** The command line for `command args` inside a sandbox described by `spec` (outputs prepared for the child). */
  async enter(spec: SandboxSpec, command: string, args: string[]): Promise<SandboxLaunch> {
    validateSpec(spec);
    const who = this.identity(spec);
    const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    const handOver = this.host.setpriv !== null;
    if (handOver) for (const o of spec.outputs) await this.chownTree(o, who.uid, who.gid);
    let released = false;
    return {
      command: this.host.bwrap,
      args: bwrapArgs(this.host, spec, who, command, args),
      release: async () => {
        if (released) return;
        released = true;
        for (const o of spec.outputs) {
          // A link the child planted could make a trusted reader of the output open a host file.
          await walk(
            o,
            async (p, st) => {
              if (!st.isFile() && !st.isDirectory()) await fs.rm(p, { force: true });
              else if (handOver) await fs.lchown(p, me.uid, me.gid).catch(() => undefined);
            },
            MAX_OUTPUT_ENTRIES,
          );
          if (handOver) await fs.lchown(o, me.uid, me.gid).catch(() => undefined);
        }
      },
    };
  }

  private identity(spec: SandboxSpec): SandboxIdentity {
    if (this.host.setpriv) {
      const uid = SANDBOX_UID_BASE + randomInt(SANDBOX_UID_SPAN);
      return { uid, gid: uid, nproc: spec.limits.processes };
    }
    // A non-root user's RLIMIT_NPROC counts every task of that user, this service's threads included.
    const uid = process.getuid?.() ?? 0;
    return { uid, gid: process.getgid?.() ?? 0, nproc: tasksOfUser(uid) + spec.limits.processes };
  }

  private async chownTree(dir: string, uid: number, gid: number): Promise<void> {
    await fs.lchown(dir, uid, gid);
    await walk(dir, (p) => fs.lchown(p, uid, gid).catch(() => undefined), MAX_OUTPUT_ENTRIES);
  }
}

/**
 * Whether a path a sandboxed child reported lies inside one of its outputs (resolved, links not
 * followed out): results of a child are untrusted and must name only what it was allowed to write.
 */
export async function insideOutputs(p: string, outputs: string[]): Promise<boolean> {
  if (!path.isAbsolute(p)) return false;
  let real: string;
  try {
    real = await fs.realpath(p);
  } catch {
    return false;
  }
  for (const o of outputs) {
    const root = await fs.realpath(o).catch(() => null);
    if (root && inside(root, real) && real !== root) return true;
  }
  return false;
}
