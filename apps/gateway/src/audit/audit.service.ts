import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { InjectLogger } from '@cvp/platform';
import type { Logger } from 'pino';
import { Repository } from 'typeorm';
import { z } from 'zod';
import { type Page, pageOf, paginationQuery, skipTake } from '../common/pagination';
import { storableText } from '../database/storable-text';
import { AuditEntryEntity } from './audit-entry.entity';

export const auditQuery = paginationQuery.extend({
  actor: z.string().max(64).optional(),
  action: z.string().max(100).optional(),
  target: z.string().max(100).optional(),
  result: z.enum(['success', 'denied', 'failure']).optional(),
  from: z.string().datetime().optional(),
  to: z.string().datetime().optional(),
});
export type AuditQuery = z.infer<typeof auditQuery>;
export type AuditRecord = Omit<AuditEntryEntity, 'id' | 'at'>;

@Injectable()
export class AuditService {
  constructor(
    @InjectRepository(AuditEntryEntity) private readonly entries: Repository<AuditEntryEntity>,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  /** Never throws: a failed audit write is logged loudly but does not undo the call it describes. */
  async record(r: AuditRecord): Promise<void> {
    // A refused request is audited too, with what it sent, so the row is written instead of lost.
    const row = Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, typeof v === 'string' ? storableText(v) : v]),
    ) as AuditRecord;
    try {
      await this.entries.insert({ id: randomUUID(), at: new Date().toISOString(), ...row });
    } catch (e) {
      this.logger.error({ err: e, audit: r }, 'audit write failed');
    }
  }

  async list(q: AuditQuery): Promise<Page<AuditEntryEntity>> {
    const qb = this.entries.createQueryBuilder('a');
    if (q.actor) qb.andWhere('(a.actor_id = :actor OR a.actor_name = :actor)', { actor: q.actor });
    if (q.action) qb.andWhere('a.action = :action', { action: q.action });
    if (q.target) qb.andWhere('a.target = :target', { target: q.target });
    if (q.result) qb.andWhere('a.result = :result', { result: q.result });
    if (q.from) qb.andWhere('a.at >= :from', { from: new Date(q.from).toISOString() });
    if (q.to) qb.andWhere('a.at <= :to', { to: new Date(q.to).toISOString() });
    const { skip, take } = skipTake(q);
    const [rows, total] = await qb
      .orderBy('a.at', 'DESC')
      .addOrderBy('a.id', 'ASC')
      .skip(skip)
      .take(take)
      .getManyAndCount();
    return pageOf(rows, total, q);
  }
}
