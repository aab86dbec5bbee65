import { type Command, InvalidArgumentError } from 'commander';
import { CliContext, type GlobalOptions } from '../context';
import type { CliIo } from '../io';

/** Shared by every command registration: the process I/O, the version, and where the outcome goes. */
export interface Registry {
  io: CliIo;
  version: string;
  /** Exit code the finished action asked for. */
  code: number;
  /** Command path of the running action ("models upload"), for error hints. */
  current: string;
  /** --json anywhere on the command line (errors are then JSON too). */
  json: boolean;
}

export const commandPath = (cmd: Command): string => {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
};

/** Wraps an action: builds its context from the global options and records its exit code. */
export function act<O, A extends unknown[]>(
  reg: Registry,
  fn: (ctx: CliContext, opts: O, ...args: A) => Promise<number | void>,
): (...all: unknown[]) => Promise<void> {
  return async (...all: unknown[]) => {
    const cmd = all[all.length - 1] as Command;
    const opts = all[all.length - 2] as O;
    reg.current = commandPath(cmd);
    const ctx = new CliContext(reg.io, cmd.optsWithGlobals<GlobalOptions>(), reg.version);
    reg.code = (await fn(ctx, opts, ...(all.slice(0, -2) as A))) ?? 0;
  };
}

/** Option and argument parsers: commander reports what is wrong (exit 2) instead of NaN reaching the API. */
export const num =
  (name: string, { min, max, int = false }: { min?: number; max?: number; int?: boolean } = {}) =>
  (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (int && !Number.isInteger(n)))
      throw new InvalidArgumentError(`${name} must be ${int ? 'an integer' : 'a number'}.`);
    if (min !== undefined && n < min) throw new InvalidArgumentError(`${name} must be at least ${min}.`);
    if (max !== undefined && n > max) throw new InvalidArgumentError(`${name} must be at most ${max}.`);
    return n;
  };

export const oneOf =
  <T extends string>(name: string, values: readonly T[]) =>
  (v: string): T => {
    if (!values.includes(v as T)) throw new InvalidArgumentError(`${name} must be one of ${values.join(', ')}.`);
    return v as T;
  };

/** "1,3,640,640" -> [1, 3, 640, 640] */
export const intList =
  (name: string) =>
  (v: string): number[] => {
    const parts = v.split(',').map((x) => x.trim());
    if (!parts.length || parts.some((x) => !/^\d+$/.test(x)))
      throw new InvalidArgumentError(`${name} must be comma-separated integers, e.g. 1,3,640,640.`);
    return parts.map(Number);
  };
