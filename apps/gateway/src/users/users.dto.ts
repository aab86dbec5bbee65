import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ROLES } from '@cvp/contracts';
import { z } from 'zod';
import { paginationQuery } from '../common/pagination';

export const usernameSchema = z.string().regex(/^[a-zA-Z0-9._-]{3,64}$/, '3-64 characters: letters, digits, . _ -');
/** bcrypt reads at most 72 bytes; longer passwords would be silently truncated, so refuse them. */
export const passwordSchema = z
  .string()
  .min(8, 'at least 8 characters')
  .refine((p) => Buffer.byteLength(p) <= 72, 'at most 72 bytes');

export const createUserSchema = z
  .object({ username: usernameSchema, password: passwordSchema, role: z.enum(ROLES) })
  .strict();
export const updateUserSchema = z
  .object({ password: passwordSchema.optional(), role: z.enum(ROLES).optional(), disabled: z.boolean().optional() })
  .strict()
  .refine((v) => Object.keys(v).length > 0, 'nothing to change');
export const listUsersQuery = paginationQuery.extend({ role: z.enum(ROLES).optional() });
export type CreateUserInput = z.infer<typeof createUserSchema>;
export type UpdateUserInput = z.infer<typeof updateUserSchema>;

export class CreateUserDto {
  @ApiProperty({ example: 'alice' }) username!: string;
  @ApiProperty({ minLength: 8, maxLength: 72 }) password!: string;
  @ApiProperty({ enum: ROLES }) role!: string;
}
export class UpdateUserDto {
  @ApiPropertyOptional({ minLength: 8 }) password?: string;
  @ApiPropertyOptional({ enum: ROLES }) role?: string;
  @ApiPropertyOptional() disabled?: boolean;
}
export class UserDto {
  @ApiProperty() id!: string;
  @ApiProperty() username!: string;
  @ApiProperty({ enum: ROLES }) role!: string;
  @ApiProperty() disabled!: boolean;
  @ApiProperty({ nullable: true, type: String }) lastLoginAt!: string | null;
  @ApiProperty() createdAt!: string;
}
export class UserPageDto {
  @ApiProperty({ type: [UserDto] }) items!: UserDto[];
  @ApiProperty() total!: number;
  @ApiProperty() page!: number;
  @ApiProperty() limit!: number;
}
