import { ApiProperty } from '@nestjs/swagger';
import { ROLES } from '@cvp/contracts';
import { z } from 'zod';

export const loginSchema = z
  .object({ username: z.string().min(1).max(64), password: z.string().min(1).max(200) })
  .strict();
export const refreshSchema = z.object({ refreshToken: z.string().min(1).max(4096) }).strict();

export class LoginDto {
  @ApiProperty({ example: 'admin' }) username!: string;
  @ApiProperty() password!: string;
}
export class RefreshDto {
  @ApiProperty() refreshToken!: string;
}
export class TokenPairDto {
  @ApiProperty() accessToken!: string;
  @ApiProperty() refreshToken!: string;
  @ApiProperty({ example: 'Bearer' }) tokenType!: string;
  @ApiProperty({ description: 'access token lifetime, seconds' }) expiresIn!: number;
  @ApiProperty({ description: 'refresh token lifetime, seconds' }) refreshExpiresIn!: number;
}
/** Who the bearer credential belongs to (GET /auth/me). */
export class PrincipalDto {
  @ApiProperty({ enum: ['user', 'apiKey'] }) kind!: string;
  @ApiProperty({ description: 'user id, or apikey:<keyId>' }) id!: string;
  @ApiProperty({ description: 'the user that owns what this principal creates' }) ownerId!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: [...ROLES, 'infer'] }) role!: string;
}
