import { z } from 'zod';
import { contract, message } from './envelope';
import { API_KEY_ROLES } from './enums';

/**
 * Credential check for the data plane (request-reply on cvp.auth.verify, answered by the
 * gateway), so the inference service never holds the JWT secret or the key hashes. The credential
 * travels only over the platform's NATS (the trust job payloads already have); the reply says who
 * it is and how long the answer may be reused.
 */
export const credentialVerifySchema = message({
  /** The bearer credential as presented: an API key `cvp_...` or a gateway access token. */
  credential: z.string().min(1).max(4096),
});
export type CredentialVerify = z.infer<typeof credentialVerifySchema>;
export const CredentialVerifyContract = contract<CredentialVerify>('auth.verify', credentialVerifySchema);

export const credentialVerifyReplySchema = message({
  valid: z.boolean(),
  /** The role the credential acts with (an API key's: the lower of its own and its owner's). */
  role: z.enum(API_KEY_ROLES).optional(),
  /** The user it acts for (audit). */
  ownerId: z.string().max(200).optional(),
  /** Why it was refused, when it was. */
  reason: z.string().max(500).optional(),
  /** How long the answer may be reused: never past a token's expiry. */
  cacheMs: z.number().int().min(0).max(3_600_000),
});
export type CredentialVerifyReply = z.infer<typeof credentialVerifyReplySchema>;
export const CredentialVerifyReplyContract = contract<CredentialVerifyReply>(
  'auth.verify.reply',
  credentialVerifyReplySchema,
);
