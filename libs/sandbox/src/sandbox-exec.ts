/**
 * `node sandbox-exec.main.js --spec FILE [--output DIR]... -- command args...`: runs one command in the
 * sandbox a spec file describes, for callers that build command lines rather than call this
 * library (the tuning coordinator prefixes every trial with it). Extra --output folders are added
 * to the spec's outputs. stdio is passed through; SIGTERM/SIGINT are forwarded; the exit code is
 * the child's (128 + signal number when a signal ended it). A sandbox that cannot be built is
 * reported as one wire-format error line and exit 2, never by running the command without it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Sandbox } from './sandbox';
import type { SandboxSpec } from './sandbox-spec';

export interface SandboxExecArgs {
  specFile: string;
  outputs: string[];
  command: string;
  args: string[];
}

export function parseSandboxExecArgs(argv: string[]): SandboxExecArgs {
  let specFile: string | undefined;
  const outputs: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if ((a === '--spec' || a === '--output') && i + 1 < argv.length) {
      const v = argv[++i];
      if (a === '--spec') specFile = v;
      else outputs.push(path.resolve(v));
      continue;
    }
    throw new Error(`unexpected argument ${JSON.stringify(a)}`);
  }
  if (!specFile) throw new Error('--spec FILE is required');
  if (i >= argv.length) throw new Error('no command after --');
  return { specFile, outputs, command: argv[i], args: argv.slice(i + 1) };
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGXCPU: 24, SIGXFSZ: 25 };

/** The launcher's whole run; resolves with the exit code to leave with (sandbox-exec.main.ts exits with it). */
export async function runSandboxExec(argv: string[]): Promise<number> {
  const fail = (code: string, message: string, exit: number) => {
    process.stdout.write(`${JSON.stringify({ type: 'error', code, message })}\n`);
    return exit;
  };
  let parsed: SandboxExecArgs;
  let spec: SandboxSpec;
  try {
    parsed = parseSandboxExecArgs(argv);
    spec = JSON.parse(readFileSync(parsed.specFile, 'utf8')) as SandboxSpec;
    spec.outputs = [...spec.outputs, ...parsed.outputs];
  } catch (e) {
    return fail('bad_input', `sandbox-exec: ${(e as Error).message}`, 2);
  }
  const availability = await Sandbox.detect();
  if (!availability.available) return fail('sandbox_unavailable', availability.reason, 2);
  let launch;
  try {
    launch = await availability.sandbox.enter(spec, parsed.command, parsed.args);
  } catch (e) {
    return fail('bad_input', `sandbox-exec: ${(e as Error).message}`, 2);
  }
  const child = spawn(launch.command, launch.args, { stdio: 'inherit' });
  const forwarders = (['SIGTERM', 'SIGINT'] as const).map((sig) => {
    const f = () => child.kill(sig);
    process.on(sig, f);
    return () => process.off(sig, f);
  });
  const code = await new Promise<number>((resolve) => {
    child.once('error', () => resolve(127));
    child.once('exit', (c, sig) => resolve(c ?? 128 + (SIGNALS[sig ?? ''] ?? 15)));
  });
  for (const off of forwarders) off();
  await launch.release();
  return code;
}
