import { type BeforeApplicationShutdown, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import {
  type CredentialVerifyReply,
  CredentialVerifyContract,
  CredentialVerifyReplyContract,
  Subjects,
} from '@cvp/contracts';
import { InjectLogger, MessageBus } from '@cvp/platform';
import type { Subscription } from 'nats';
import type { Logger } from 'pino';
import { API_KEY_PREFIX, ApiKeysService } from '../api-keys/api-keys.service';
import type { AccessTokenClaims } from './jwt.constants';
import { JwtStrategy } from './jwt.strategy';
import type { AuthenticatedPrincipal } from './principal';

const QUEUE = 'cvp-gateway-credentials';
/** How long the data plane may reuse an answer: a revoked key or a disabled user stops working within this. */
export const CREDENTIAL_CACHE_MS = 30_000;
/** Refusals are cached briefly too, so a client retrying a bad key does not load the gateway. */
const REFUSAL_CACHE_MS = 5_000;

/**
 * Answers cvp.auth.verify for the data plane: the same rules as the REST guard (API keys by hash,
 * access tokens by signature, expiry and the user's current role), so the inference service needs
 * neither the JWT secret nor the key table.
 */
@Injectable()
export class CredentialVerifyResponder implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private sub?: Subscription;

  constructor(
    private readonly bus: MessageBus,
    private readonly apiKeys: ApiKeysService,
    private readonly jwt: JwtService,
    private readonly jwtStrategy: JwtStrategy,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.sub = this.bus.subscribe(
      CredentialVerifyContract,
      Subjects.credentialVerify,
      async (req, msg) => {
        const reply = await this.verify(req.credential).catch((e: unknown) => {
          this.logger.error({ err: e }, 'credential check failed');
          return undefined; // no reply: the data plane answers 503 and the client retries
        });
        if (reply) this.bus.respond(msg, CredentialVerifyReplyContract, reply);
      },
      { queue: QUEUE },
    );
  }

  beforeApplicationShutdown(): void {
    this.sub?.unsubscribe();
  }

  async verify(credential: string): Promise<Omit<CredentialVerifyReply, 'schemaVersion'>> {
    const refuse = (reason: string) => ({ valid: false, reason, cacheMs: REFUSAL_CACHE_MS });
    const accept = (p: AuthenticatedPrincipal, cacheMs: number) => ({
      valid: true,
      role: p.role,
      ownerId: p.ownerId,
      cacheMs: Math.max(0, Math.min(CREDENTIAL_CACHE_MS, cacheMs)),
    });
    if (credential.startsWith(API_KEY_PREFIX)) {
      const p = await this.apiKeys.authenticate(credential);
      return p ? accept(p, CREDENTIAL_CACHE_MS) : refuse('invalid or revoked api key');
    }
    let claims: AccessTokenClaims & { exp?: number };
    try {
      claims = await this.jwt.verifyAsync<AccessTokenClaims & { exp?: number }>(credential);
    } catch (e) {
      return refuse(`invalid token: ${(e as Error).message}`);
    }
    try {
      const p = await this.jwtStrategy.validate(claims);
      return accept(p, claims.exp ? claims.exp * 1000 - Date.now() : CREDENTIAL_CACHE_MS);
    } catch (e) {
      return refuse(`invalid token: ${(e as Error).message}`);
    }
  }
}
