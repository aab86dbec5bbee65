import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { ThrottlerModule } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import { SERVICE_CONFIG } from '@cvp/platform';
import { ApiKeysModule } from '../api-keys/api-keys.module';
import type { GatewayConfig } from '../config';
import { UsersModule } from '../users/users.module';
import { AccessGuard } from './access.guard';
import { AdminSeeder } from './admin-seeder';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { CredentialVerifyResponder } from './credential-verify.responder';
import { JWT_ALGORITHM, JWT_ISSUER } from './jwt.constants';
import { JwtStrategy } from './jwt.strategy';
import { RefreshTokenEntity } from './refresh-token.entity';

/** Login, token refresh, and the one global access guard for every gateway route. */
@Global()
@Module({
  imports: [
    UsersModule,
    ApiKeysModule,
    PassportModule,
    TypeOrmModule.forFeature([RefreshTokenEntity]),
    JwtModule.registerAsync({
      inject: [SERVICE_CONFIG],
      useFactory: (c: GatewayConfig) => ({
        secret: c.CVP_JWT_SECRET,
        signOptions: { algorithm: JWT_ALGORITHM, issuer: JWT_ISSUER },
        verifyOptions: { algorithms: [JWT_ALGORITHM], issuer: JWT_ISSUER },
      }),
    }),
    ThrottlerModule.forRootAsync({
      inject: [SERVICE_CONFIG],
      useFactory: (c: GatewayConfig) => ({
        throttlers: [{ name: 'login', ttl: c.CVP_LOGIN_THROTTLE_TTL_S * 1000, limit: c.CVP_LOGIN_THROTTLE_LIMIT }],
      }),
    }),
  ],
  controllers: [AuthController],
  providers: [
    AuthService,
    JwtStrategy,
    AdminSeeder,
    CredentialVerifyResponder,
    { provide: APP_GUARD, useClass: AccessGuard },
  ],
  exports: [AuthService],
})
export class AuthModule {}
