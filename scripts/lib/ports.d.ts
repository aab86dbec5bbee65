// Types of ports.js for the TypeScript tests that import it.
export function freePort(): Promise<number>;
export function isPortOpen(port: number, host?: string, timeoutMs?: number): Promise<boolean>;
export function waitFor(
  probe: () => unknown,
  options?: { timeoutMs?: number; intervalMs?: number; what?: string },
): Promise<void>;
