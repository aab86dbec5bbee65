import { z } from 'zod';

/** ?page=&limit= of every list; limit capped so no list answer is unbounded. */
export const paginationQuery = z.object({
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type PaginationQuery = z.infer<typeof paginationQuery>;

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  limit: number;
}

export function pageOf<T>(items: T[], total: number, q: PaginationQuery): Page<T> {
  return { items, total, page: q.page, limit: q.limit };
}

/** Skip/take for TypeORM from a parsed pagination query. */
export function skipTake(q: PaginationQuery): { skip: number; take: number } {
  return { skip: (q.page - 1) * q.limit, take: q.limit };
}
