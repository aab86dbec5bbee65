import { randomUUID } from 'node:crypto';
import { Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectRepository } from '@nestjs/typeorm';
import { InjectConfig } from '@cvp/platform';
import bcrypt from 'bcryptjs';
import { Repository } from 'typeorm';
import type { GatewayConfig } from '../config';
import type { UserEntity } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { AccountLockedException } from './auth.errors';
import { type AccessTokenClaims, JWT_ALGORITHM, JWT_ISSUER, type RefreshTokenClaims } from './jwt.constants';
import { RefreshTokenEntity } from './refresh-token.entity';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  refreshExpiresIn: number;
}

// Compared against when the user does not exist, so a missing user costs the same time as a wrong password.
const DUMMY_HASH = '$2b$10$CwTycUXWue0Thq9StjUM0uJ8.rJg8Y5VwnHjYHk3Ttb9zPt5Q1Ymy';

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly jwt: JwtService,
    @InjectRepository(RefreshTokenEntity) private readonly refreshTokens: Repository<RefreshTokenEntity>,
    @InjectConfig() private readonly config: GatewayConfig,
  ) {}

  async login(
    username: string,
    password: string,
  ): Promise<TokenPair & { user: { id: string; username: string; role: string } }> {
    const user = await this.verifyCredentials(username, password);
    return { ...(await this.issue(user)), user: { id: user.id, username: user.username, role: user.role } };
  }

  /**
   * Checks a username and password with the lockout rules (429 while locked, a failure counted
   * per wrong password, the same cost for unknown users); the web UI's login uses it too.
   */
  async verifyCredentials(username: string, password: string): Promise<UserEntity> {
    const user = await this.users.findByUsername(username);
    const now = Date.now();
    if (user?.lockedUntil && Date.parse(user.lockedUntil) > now) {
      throw new AccountLockedException(Math.ceil((Date.parse(user.lockedUntil) - now) / 1000));
    }
    const ok = await bcrypt.compare(password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !ok || user.disabled) {
      if (user && !ok) await this.recordFailure(user);
      throw new UnauthorizedException('invalid username or password');
    }
    user.failedLogins = 0;
    user.lockedUntil = null;
    user.lastLoginAt = new Date(now).toISOString();
    await this.users.save(user);
    return user;
  }

  /** Rotates a refresh token: the old one is revoked; presenting a revoked one revokes every token of the user. */
  async refresh(refreshToken: string): Promise<TokenPair> {
    let claims: RefreshTokenClaims;
    try {
      claims = await this.jwt.verifyAsync<RefreshTokenClaims>(refreshToken, {
        algorithms: [JWT_ALGORITHM],
        issuer: JWT_ISSUER,
      });
    } catch {
      throw new UnauthorizedException('invalid refresh token');
    }
    if (claims.typ !== 'refresh' || !claims.jti) throw new UnauthorizedException('invalid refresh token');
    const row = await this.refreshTokens.findOneBy({ id: claims.jti });
    if (!row || row.userId !== claims.sub) throw new UnauthorizedException('invalid refresh token');
    if (row.revokedAt) {
      await this.revokeAllFor(row.userId);
      throw new UnauthorizedException('refresh token already used; all sessions of this user were revoked');
    }
    const user = await this.users.findById(row.userId);
    if (!user || user.disabled) throw new UnauthorizedException('user no longer active');
    row.revokedAt = new Date().toISOString();
    await this.refreshTokens.save(row);
    return this.issue(user);
  }

  async revokeAllFor(userId: string): Promise<void> {
    await this.refreshTokens
      .createQueryBuilder()
      .update()
      .set({ revokedAt: new Date().toISOString() })
      .where('user_id = :userId AND revoked_at IS NULL', { userId })
      .execute();
  }

  private async recordFailure(user: UserEntity): Promise<void> {
    user.failedLogins += 1;
    if (user.failedLogins >= this.config.CVP_LOGIN_MAX_FAILURES) {
      user.lockedUntil = new Date(Date.now() + this.config.CVP_LOGIN_LOCKOUT_S * 1000).toISOString();
      user.failedLogins = 0;
    }
    await this.users.save(user);
  }

  private async issue(user: UserEntity): Promise<TokenPair> {
    const c = this.config;
    const access: AccessTokenClaims = { sub: user.id, typ: 'access', role: user.role, name: user.username };
    const jti = randomUUID();
    const refresh: RefreshTokenClaims = { sub: user.id, typ: 'refresh', jti };
    const now = new Date();
    await this.refreshTokens.save(
      this.refreshTokens.create({
        id: jti,
        userId: user.id,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + c.CVP_JWT_REFRESH_TTL_S * 1000).toISOString(),
        revokedAt: null,
      }),
    );
    return {
      accessToken: await this.jwt.signAsync(access, { expiresIn: c.CVP_JWT_ACCESS_TTL_S }),
      refreshToken: await this.jwt.signAsync(refresh, { expiresIn: c.CVP_JWT_REFRESH_TTL_S }),
      tokenType: 'Bearer',
      expiresIn: c.CVP_JWT_ACCESS_TTL_S,
      refreshExpiresIn: c.CVP_JWT_REFRESH_TTL_S,
    };
  }
}
