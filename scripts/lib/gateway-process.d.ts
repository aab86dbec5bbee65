export interface CompiledGateway {
  origin: string;
  port: number;
  dataDir: string;
  adminPassword: string;
  logs(): string;
  stop(): Promise<void>;
}
export function startCompiledGateway(opts: {
  natsUrl: string;
  dataDir?: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}): Promise<CompiledGateway>;
