export function freePort(): Promise<number>;
export function freePortsBelowEphemeral(n: number): Promise<number[]>;
export function isPortOpen(port: number, host?: string, timeoutMs?: number): Promise<boolean>;
export function waitFor(
  probe: () => Promise<unknown> | unknown,
  opts?: { timeoutMs?: number; intervalMs?: number; what?: string },
): Promise<void>;
