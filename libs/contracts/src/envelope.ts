import { z } from 'zod';

/** Version of every NATS payload shape in this package; bump on a breaking change. */
export const SCHEMA_VERSION = 1 as const;

/** Fields every NATS payload carries: the schema version and the correlation id that crosses HTTP, NATS and gRPC. */
export const envelopeFields = {
  schemaVersion: z.literal(SCHEMA_VERSION),
  correlationId: z.string().min(1).max(128).optional(),
};

/** Builds a strict payload schema (unknown fields refused) that carries the envelope fields. */
export function message<S extends z.ZodRawShape>(shape: S) {
  return z.object({ ...envelopeFields, ...shape }).strict();
}

/** A named payload shape; `name` is what metrics and logs call it. */
export interface MessageContract<T> {
  readonly name: string;
  readonly schema: z.ZodType<T, z.ZodTypeDef, unknown>;
}

export function contract<T>(name: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>): MessageContract<T> {
  return { name, schema };
}

/**
 * A request-reply exchange: the subject it is asked on and the contracts of the request and of the
 * reply, so the asking and the answering side name one thing.
 */
export interface RequestReplyContract<Req, Res> {
  readonly subject: string;
  readonly request: MessageContract<Req>;
  readonly reply: MessageContract<Res>;
}

export function requestReply<Req, Res>(
  subject: string,
  request: MessageContract<Req>,
  reply: MessageContract<Res>,
): RequestReplyContract<Req, Res> {
  return { subject, request, reply };
}

/** Raised when a payload does not match its contract, on either end. */
export class ContractViolationError extends Error {
  constructor(
    readonly contractName: string,
    readonly issues: string[],
  ) {
    super(`payload rejected by contract ${contractName}: ${issues.join('; ')}`);
    this.name = 'ContractViolationError';
  }
}

/** Each issue of a failed parse as "path: message", the path naming the field ("(root)" for the object itself). */
export function issuesOf(err: z.ZodError): string[] {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
}

/** Validates a value against a contract; throws ContractViolationError. */
export function validate<T>(c: MessageContract<T>, value: unknown): T {
  const r = c.schema.safeParse(value);
  if (!r.success) throw new ContractViolationError(c.name, issuesOf(r.error));
  return r.data;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Validates then serialises a payload for the wire. */
export function encodeMessage<T>(c: MessageContract<T>, value: T): Uint8Array {
  return enc.encode(JSON.stringify(validate(c, value)));
}

/** Parses and validates bytes received from the wire. */
export function decodeMessage<T>(c: MessageContract<T>, data: Uint8Array): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(dec.decode(data));
  } catch (e) {
    throw new ContractViolationError(c.name, [`not JSON: ${(e as Error).message}`]);
  }
  return validate(c, parsed);
}
