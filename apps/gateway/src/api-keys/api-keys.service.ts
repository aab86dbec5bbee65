import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { API_KEY_ROLES, API_KEY_SCOPE, type ApiKeyRole, lesserRole } from '@cvp/contracts';
import { IsNull, Repository } from 'typeorm';
import { type Page, pageOf, type PaginationQuery, skipTake } from '../common/pagination';
import type { AuthenticatedPrincipal } from '../auth/principal';
import { UsersService } from '../users/users.service';
import { ApiKeyEntity } from './api-key.entity';

/** Keys look like cvp_<prefix>_<secret>; the prefix makes them greppable in leaked-secret scans. */
export const API_KEY_PREFIX = 'cvp_';

export interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  /** The role the key acts with (never more than its owner's at the time of use). */
  role: ApiKeyRole;
  /** Same as role; kept for clients written when every key was scope "infer". */
  scope: string;
  ownerId: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const view = (k: ApiKeyEntity): ApiKeyView => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  role: k.scope,
  scope: k.scope,
  ownerId: k.ownerId,
  createdAt: k.createdAt,
  lastUsedAt: k.lastUsedAt,
  revokedAt: k.revokedAt,
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const rank = (r: ApiKeyRole) => API_KEY_ROLES.indexOf(r);

/**
 * API keys: credentials of their owner. Anyone signed in may make keys for themselves, with any
 * role up to their own (`infer` = inference only); an admin may make them for any user. Keys cannot
 * make keys. A key acts with the lower of its role and its owner's current role, so demoting or
 * disabling the owner takes effect on every key at once.
 */
@Injectable()
export class ApiKeysService {
  constructor(
    @InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    private readonly users: UsersService,
  ) {}

  /** Creates a key; the plaintext is in the answer once and nowhere else. */
  async create(
    input: { name: string; role?: ApiKeyRole; ownerId?: string },
    who: Pick<AuthenticatedPrincipal, 'kind' | 'ownerId' | 'role'>,
  ): Promise<ApiKeyView & { key: string }> {
    if (who.kind === 'apiKey') throw new ForbiddenException('an API key cannot create API keys; sign in as a user');
    const ownerId = input.ownerId ?? who.ownerId;
    if (ownerId !== who.ownerId && who.role !== 'admin')
      throw new ForbiddenException('only an admin may create API keys for another user');
    const owner = await this.users.findById(ownerId);
    if (!owner) throw new NotFoundException(`user ${ownerId} not found`);
    const role = input.role ?? API_KEY_SCOPE;
    if (rank(role) > rank(owner.role))
      throw new ForbiddenException(`a key of role ${role} exceeds its owner's role ${owner.role}`);
    const prefix = randomBytes(4).toString('hex');
    const key = `${API_KEY_PREFIX}${prefix}_${randomBytes(24).toString('base64url')}`;
    const row = this.keys.create({
      id: randomUUID(),
      name: input.name,
      prefix: `${API_KEY_PREFIX}${prefix}`,
      keyHash: sha256(key),
      scope: role,
      ownerId,
      createdAt: new Date().toISOString(),
      lastUsedAt: null,
      revokedAt: null,
    });
    await this.keys.save(row);
    return { ...view(row), key };
  }

  /** Admins see every key (optionally of one owner); everyone else sees their own. */
  async list(
    q: PaginationQuery,
    who: Pick<AuthenticatedPrincipal, 'ownerId' | 'role'>,
    owner?: string,
  ): Promise<Page<ApiKeyView>> {
    const ownerId = who.role === 'admin' ? owner : who.ownerId;
    const [rows, total] = await this.keys.findAndCount({
      where: ownerId ? { ownerId } : {},
      order: { createdAt: 'DESC', id: 'ASC' },
      ...skipTake(q),
    });
    return pageOf(rows.map(view), total, q);
  }

  /** Revocation (its owner or an admin) is idempotent; a revoked key stays listed with its revocation time. */
  async revoke(id: string, who: Pick<AuthenticatedPrincipal, 'ownerId' | 'role'>): Promise<ApiKeyView> {
    const k = await this.keys.findOneBy({ id });
    if (!k) throw new NotFoundException(`api key ${id} not found`);
    if (k.ownerId !== who.ownerId && who.role !== 'admin')
      throw new ForbiddenException(`api key ${id} belongs to another user: only its owner or an admin may revoke it`);
    if (!k.revokedAt) {
      k.revokedAt = new Date().toISOString();
      await this.keys.save(k);
    }
    return view(k);
  }

  /** The principal behind a presented key, or null when it is unknown, revoked or its owner is gone or disabled. */
  async authenticate(presented: string): Promise<AuthenticatedPrincipal | null> {
    if (!presented.startsWith(API_KEY_PREFIX) || presented.length > 200) return null;
    const k = await this.keys.findOneBy({ keyHash: sha256(presented), revokedAt: IsNull() });
    if (!k) return null;
    const owner = await this.users.findById(k.ownerId);
    if (!owner || owner.disabled) return null;
    await this.keys.update({ id: k.id }, { lastUsedAt: new Date().toISOString() });
    return {
      kind: 'apiKey',
      id: `apikey:${k.id}`,
      ownerId: k.ownerId,
      name: k.name,
      role: lesserRole(k.scope, owner.role),
    };
  }
}
