import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { z } from 'zod';

/** What can change hands: every kind of owned resource. */
export const OWNED_KINDS = ['models', 'datasets', 'jobs', 'deployments', 'packages', 'benchmarks', 'apiKeys'] as const;
export type OwnedKind = (typeof OWNED_KINDS)[number];

export const handoverSchema = z
  .object({
    fromUserId: z.string().min(1).max(64),
    toUserId: z.string().uuid(),
    /** Only these resources (each must belong to fromUserId); absent: everything fromUserId owns. */
    resources: z
      .array(z.object({ kind: z.enum(OWNED_KINDS), id: z.string().min(1).max(64) }).strict())
      .min(1)
      .max(1000)
      .optional(),
  })
  .strict()
  .refine((b) => b.fromUserId !== b.toUserId, { message: 'fromUserId and toUserId must differ', path: ['toUserId'] });
export type HandoverInput = z.infer<typeof handoverSchema>;

export interface HandoverResult {
  fromUserId: string;
  toUserId: string;
  /** Resources moved, by kind. */
  moved: Record<OwnedKind, number>;
  /** Named resources that did not move: unknown, or not owned by fromUserId. */
  notMoved: { kind: OwnedKind; id: string; reason: string }[];
}

class ResourceRefDto {
  @ApiProperty({ enum: OWNED_KINDS }) kind!: string;
  @ApiProperty() id!: string;
}
export class HandoverDto {
  @ApiProperty({ description: 'the current owner (a user id; may be a deleted user)' }) fromUserId!: string;
  @ApiProperty({ description: 'the new owner (an existing user)' }) toUserId!: string;
  @ApiPropertyOptional({ type: [ResourceRefDto], description: 'only these; default: everything fromUserId owns' })
  resources?: ResourceRefDto[];
}
export class HandoverResultDto {
  @ApiProperty() fromUserId!: string;
  @ApiProperty() toUserId!: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' }, example: { models: 2, datasets: 1 } })
  moved!: Record<string, number>;
  @ApiProperty({ type: [Object] }) notMoved!: unknown[];
}
