import { type PipeTransform } from '@nestjs/common';
import type { ZodTypeAny, z } from 'zod';

/**
 * Validates a body or query with a zod schema; a ZodError becomes a 400 problem+json with every
 * issue (ProblemDetailsFilter). Use as @Body(new ZodValidationPipe(schema)).
 */
export class ZodValidationPipe<S extends ZodTypeAny> implements PipeTransform<unknown, z.infer<S>> {
  constructor(private readonly schema: S) {}
  transform(value: unknown): z.infer<S> {
    return this.schema.parse(value ?? {});
  }
}
