import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { API_KEY_SCOPE } from '@cvp/contracts';
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
  scope: k.scope,
  ownerId: k.ownerId,
  createdAt: k.createdAt,
  lastUsedAt: k.lastUsedAt,
  revokedAt: k.revokedAt,
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

@Injectable()
export class ApiKeysService {
  constructor(
    @InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    private readonly users: UsersService,
  ) {}

  /** Creates a key; the plaintext is in the answer once and nowhere else. */
  async create(name: string, ownerId: string): Promise<ApiKeyView & { key: string }> {
    const prefix = randomBytes(4).toString('hex');
    const key = `${API_KEY_PREFIX}${prefix}_${randomBytes(24).toString('base64url')}`;
    const row = this.keys.create({
      id: randomUUID(),
      name,
      prefix: `${API_KEY_PREFIX}${prefix}`,
      keyHash: sha256(key),
      scope: API_KEY_SCOPE,
      ownerId,
      createdAt: new Date().toISOString(),
      lastUsedAt: null,
      revokedAt: null,
    });
    await this.keys.save(row);
    return { ...view(row), key };
  }

  async list(q: PaginationQuery): Promise<Page<ApiKeyView>> {
    const [rows, total] = await this.keys.findAndCount({ order: { createdAt: 'DESC', id: 'ASC' }, ...skipTake(q) });
    return pageOf(rows.map(view), total, q);
  }

  /** Revocation is idempotent; a revoked key stays listed with its revocation time. */
  async revoke(id: string): Promise<ApiKeyView> {
    const k = await this.keys.findOneBy({ id });
    if (!k) throw new NotFoundException(`api key ${id} not found`);
    if (!k.revokedAt) {
      k.revokedAt = new Date().toISOString();
      await this.keys.save(k);
    }
    return view(k);
  }

  /** The principal behind a presented key, or null when it is unknown, revoked or its owner is gone. */
  async authenticate(presented: string): Promise<AuthenticatedPrincipal | null> {
    if (!presented.startsWith(API_KEY_PREFIX) || presented.length > 200) return null;
    const k = await this.keys.findOneBy({ keyHash: sha256(presented), revokedAt: IsNull() });
    if (!k) return null;
    const owner = await this.users.findById(k.ownerId);
    if (!owner || owner.disabled) return null;
    await this.keys.update({ id: k.id }, { lastUsedAt: new Date().toISOString() });
    return { kind: 'apiKey', id: `apikey:${k.id}`, ownerId: k.ownerId, name: k.name, role: API_KEY_SCOPE };
  }
}
