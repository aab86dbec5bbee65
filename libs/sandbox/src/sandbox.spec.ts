import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bwrapArgs, validateSpec } from './sandbox';
import { parseSandboxExecArgs } from './sandbox-exec';
import type { SandboxHost } from './sandbox-host';
import { DEFAULT_SANDBOX_LIMITS, type SandboxSpec } from './sandbox-spec';
import { outermost } from './system-paths';

const host = (root: boolean): SandboxHost => ({
  bwrap: '/usr/bin/bwrap',
  prlimit: '/usr/bin/prlimit',
  setpriv: root ? '/usr/bin/setpriv' : null,
  rootLinks: { '/bin': 'usr/bin', '/lib': 'usr/lib' },
  rootDirs: ['/usr'],
  gpuDevices: [],
});

const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  system: ['/repo'],
  inputs: ['/repo/var/models/m1/v1/source.pt'],
  outputs: ['/repo/var/models/m1/.tmp-job'],
  hide: ['/repo/var'],
  env: { PATH: '/usr/bin', HOME: '/tmp' },
  limits: DEFAULT_SANDBOX_LIMITS,
  ...over,
});

const indexOfPair = (a: string[], flag: string, value: string) =>
  a.findIndex((x, i) => x === flag && (a[i + 1] === value || a[i + 2] === value));

describe('bwrapArgs (unit)', () => {
  it('unshares every namespace and clears the environment, setting only the spec env', () => {
    const a = bwrapArgs(host(true), spec(), { uid: 200_123, gid: 200_123, nproc: 256 }, 'python', ['-V']);
    for (const f of [
      '--unshare-pid',
      '--unshare-net',
      '--unshare-ipc',
      '--unshare-uts',
      '--die-with-parent',
      '--clearenv',
    ])
      expect(a).toContain(f);
    expect(a.filter((x) => x === '--setenv')).toHaveLength(2);
  });

  it('mounts the system, then hides the data dir, then binds the input read-only and the output read-write', () => {
    const a = bwrapArgs(host(true), spec(), { uid: 200_123, gid: 200_123, nproc: 256 }, 'python', []);
    const sys = indexOfPair(a, '--ro-bind', '/repo');
    const hide = a.findIndex((x, i) => x === '--tmpfs' && a[i + 1] === '/repo/var');
    const input = indexOfPair(a, '--ro-bind', '/repo/var/models/m1/v1/source.pt');
    const output = indexOfPair(a, '--bind', '/repo/var/models/m1/.tmp-job');
    expect(sys).toBeGreaterThan(-1);
    expect(hide).toBeGreaterThan(sys);
    expect(input).toBeGreaterThan(hide);
    expect(output).toBeGreaterThan(input);
    // The folders between the hidden data dir and the input are made (0755) inside the tmpfs.
    expect(a.slice(hide, input).join(' ')).toContain('--dir /repo/var/models/m1/v1');
  });

  it('as root: drops the child to its own uid with setpriv before prlimit; otherwise a user namespace without capabilities', () => {
    const rootArgs = bwrapArgs(host(true), spec(), { uid: 200_777, gid: 200_777, nproc: 64 }, 'python', ['x']);
    const tail = rootArgs.slice(rootArgs.indexOf('--', rootArgs.indexOf('--chdir')) + 1);
    expect(tail[0]).toBe('/usr/bin/setpriv');
    expect(tail).toEqual(expect.arrayContaining(['--reuid=200777', '--regid=200777', '--no-new-privs']));
    const pr = tail.indexOf('/usr/bin/prlimit');
    expect(tail.slice(pr)).toEqual(
      expect.arrayContaining([
        '--nproc=64',
        `--cpu=${DEFAULT_SANDBOX_LIMITS.cpuSeconds}:${DEFAULT_SANDBOX_LIMITS.cpuSeconds + 5}`,
      ]),
    );
    expect(tail.slice(-2)).toEqual(['python', 'x']);
    expect(rootArgs).not.toContain('--unshare-user');

    const userArgs = bwrapArgs(host(false), spec(), { uid: 1000, gid: 1000, nproc: 300 }, 'python', []);
    expect(userArgs).toEqual(expect.arrayContaining(['--unshare-user', '--cap-drop', 'ALL']));
    expect(userArgs).not.toContain('/usr/bin/setpriv');
  });

  it('does not hide a folder no system path contains (it is absent anyway)', () => {
    const a = bwrapArgs(
      host(false),
      spec({ system: ['/opt/venv'], hide: ['/data'] }),
      { uid: 1, gid: 1, nproc: 1 },
      'x',
      [],
    );
    expect(a.join(' ')).not.toContain('--tmpfs /data');
  });

  it('binds GPU devices and a read-only /sys only on GPU hosts', () => {
    const gpu = { ...host(true), gpuDevices: ['/dev/nvidia0', '/dev/nvidiactl'] };
    const a = bwrapArgs(gpu, spec(), { uid: 2, gid: 2, nproc: 1 }, 'x', []);
    expect(a.join(' ')).toContain('--dev-bind-try /dev/nvidia0 /dev/nvidia0');
    expect(a.join(' ')).toContain('--ro-bind-try /sys /sys');
    expect(bwrapArgs(host(true), spec(), { uid: 2, gid: 2, nproc: 1 }, 'x', []).join(' ')).not.toContain('/sys');
  });
});

describe('validateSpec (unit)', () => {
  const dir = mkdtempSync(path.join(process.env.CVP_TEST_DIR ?? os.tmpdir(), 'sandbox-spec-'));
  mkdirSync(path.join(dir, 'out'));
  writeFileSync(path.join(dir, 'in.pt'), 'x');
  const ok = spec({
    system: ['/usr/lib'],
    inputs: [path.join(dir, 'in.pt')],
    outputs: [path.join(dir, 'out')],
    hide: [dir],
  });

  it('accepts absolute inputs and existing output folders', () => expect(() => validateSpec(ok)).not.toThrow());
  it('refuses relative or unnormalised paths, and /', () => {
    expect(() => validateSpec({ ...ok, inputs: ['rel/in.pt'] })).toThrow(/absolute/);
    expect(() => validateSpec({ ...ok, inputs: [`${dir}/../x`] })).toThrow(/normalised/);
    expect(() => validateSpec({ ...ok, system: ['/'] })).toThrow(/not \//);
  });
  it('refuses a system path inside a hidden folder, a missing input and an output that is not a folder', () => {
    expect(() => validateSpec({ ...ok, system: [path.join(dir, 'out')] })).toThrow(/inside hidden/);
    expect(() => validateSpec({ ...ok, inputs: [path.join(dir, 'missing')] })).toThrow(/ENOENT/);
    expect(() => validateSpec({ ...ok, outputs: [path.join(dir, 'in.pt')] })).toThrow(/not a folder/);
  });
});

describe('helpers (unit)', () => {
  it('outermost keeps one bind per tree', () => {
    expect(outermost(['/a/b', '/a', '/c/d', '/c/de', '/a/b/c'])).toEqual(['/a', '/c/d', '/c/de']);
  });
  it('parseSandboxExecArgs reads the spec, extra outputs and the command', () => {
    expect(parseSandboxExecArgs(['--spec', '/s.json', '--output', '/o', '--', 'python', '-m', 'x'])).toEqual({
      specFile: '/s.json',
      outputs: ['/o'],
      command: 'python',
      args: ['-m', 'x'],
    });
    expect(() => parseSandboxExecArgs(['--', 'x'])).toThrow(/--spec/);
    expect(() => parseSandboxExecArgs(['--spec', '/s'])).toThrow(/no command/);
    expect(() => parseSandboxExecArgs(['--bogus'])).toThrow(/unexpected/);
  });
});
