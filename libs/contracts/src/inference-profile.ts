import { z } from 'zod';
import { contract, message, requestReply } from './envelope';
import { Subjects } from './subjects';

/**
 * A CPU profile of a data-plane process (V8's sampling profiler on its main thread) for
 * `durationMs`, summarised to the functions that held the CPU longest. Bench asks for one while it
 * loads a scratch deployment, so the report names where the serving process spends its time.
 */
export const cpuProfileRequestSchema = message({
  durationMs: z.number().int().min(100).max(60_000),
  /** How many functions the answer names (by self time). */
  top: z.number().int().min(1).max(50).default(15),
});
export type CpuProfileRequest = z.infer<typeof cpuProfileRequestSchema>;
export const CpuProfileRequest = contract<CpuProfileRequest>('inference.profile.cpu.req', cpuProfileRequestSchema);

export const profiledFunctionSchema = z.object({
  /** "(anonymous)" for unnamed functions; V8's "(program)", "(idle)", "(garbage collector)" as themselves. */
  functionName: z.string(),
  /** Script URL or path, "" for V8's own entries. */
  url: z.string(),
  /** 1-based line. */
  line: z.number().int(),
  selfMs: z.number(),
  /** Share of all samples (idle included). */
  selfPct: z.number(),
});
export type ProfiledFunction = z.infer<typeof profiledFunctionSchema>;

export const cpuProfileSummarySchema = z.object({
  durationMs: z.number(),
  samples: z.number().int(),
  /** Share of samples the main thread was idle (waiting on I/O, worker threads or the native core). */
  idlePct: z.number(),
  top: z.array(profiledFunctionSchema),
});
export type CpuProfileSummary = z.infer<typeof cpuProfileSummarySchema>;

export const cpuProfileReplySchema = message({
  ok: z.boolean(),
  error: z.string().optional(),
  /** Process id of the replica that answered (replicas answer one at a time, in a queue group). */
  pid: z.number().int().optional(),
  profile: cpuProfileSummarySchema.optional(),
});
export type CpuProfileReply = z.infer<typeof cpuProfileReplySchema>;
export const CpuProfileReply = contract<CpuProfileReply>('inference.profile.cpu.res', cpuProfileReplySchema);

export const InferenceLookups = {
  cpuProfile: requestReply(Subjects.inferenceCpuProfile, CpuProfileRequest, CpuProfileReply),
} as const;
