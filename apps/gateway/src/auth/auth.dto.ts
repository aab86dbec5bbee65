import { ApiProperty } from '@nestjs/swagger';
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
