import { accessSync, constants, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** What a sandbox needs to know about the machine it runs on; found once per process. */
export interface SandboxHost {
  bwrap: string;
  prlimit: string;
  /**
   * Set when this process runs as root: bubblewrap then mounts as root (no user namespace) and the
   * child drops to an unprivileged uid of its own through `setpriv`, so RLIMIT_NPROC applies to it
   * (the kernel exempts root from that limit) and it owns nothing on the host.
   */
  setpriv: string | null;
  /** Top-level links of a merged-/usr system (/bin -> usr/bin ...), recreated inside the sandbox. */
  rootLinks: Record<string, string>;
  /** Top-level system folders that are real folders (not links), bound read-only. */
  rootDirs: string[];
  /** NVIDIA device nodes, bound into the sandbox so GPU children keep working. */
  gpuDevices: string[];
}

/** Files of /etc a dynamic linker and a Python interpreter read; nothing with accounts or secrets. */
export const ETC_FILES = [
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives',
  '/etc/localtime',
  '/etc/os-release',
  '/etc/fonts',
];

const SYSTEM_TOP = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** An executable by name on PATH (or an absolute path), or null. */
export function findExecutable(name: string, envPath = process.env.PATH ?? '/usr/bin:/bin'): string | null {
  if (name.includes('/')) return executable(name) ? path.resolve(name) : null;
  for (const dir of envPath.split(':').filter(Boolean)) {
    const p = path.join(dir, name);
    if (executable(p)) return p;
  }
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const p = path.join(dir, name);
    if (executable(p)) return p;
  }
  return null;
}

/** Machine facts for the sandbox, or the reason one cannot be built here. */
export function inspectHost(o: { bwrap?: string } = {}): SandboxHost | { unavailable: string } {
  const bwrap = findExecutable(o.bwrap ?? 'bwrap');
  if (!bwrap) return { unavailable: `bubblewrap (bwrap) is not installed (Debian package bubblewrap)` };
  const prlimit = findExecutable('prlimit');
  if (!prlimit) return { unavailable: 'prlimit (util-linux) is not installed' };
  const root = process.getuid?.() === 0;
  const setpriv = root ? findExecutable('setpriv') : null;
  if (root && !setpriv)
    return { unavailable: 'setpriv (util-linux) is not installed; it drops the child to its own uid' };
  const rootLinks: Record<string, string> = {};
  const rootDirs: string[] = [];
  for (const p of SYSTEM_TOP) {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) rootLinks[p] = readlinkSync(p);
    else if (st.isDirectory()) rootDirs.push(p);
  }
  let gpuDevices: string[] = [];
  try {
    gpuDevices = readdirSync('/dev')
      .filter((n) => /^nvidia(\d+|ctl|-uvm|-uvm-tools|-modeset)$/.test(n))
      .map((n) => `/dev/${n}`);
  } catch {
    gpuDevices = [];
  }
  return { bwrap, prlimit, setpriv, rootLinks, rootDirs, gpuDevices };
}

/** Processes and threads the given uid runs now (RLIMIT_NPROC counts them all for a non-root user). */
export function tasksOfUser(uid: number): number {
  let n = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${e}/status`, 'utf8');
    } catch {
      continue;
    }
    const u = /^Uid:\s+(\d+)/m.exec(status);
    const t = /^Threads:\s+(\d+)/m.exec(status);
    if (u && Number(u[1]) === uid) n += t ? Number(t[1]) : 1;
  }
  return n;
}
