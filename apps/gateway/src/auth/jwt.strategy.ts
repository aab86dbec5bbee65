import { Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { InjectConfig } from '@cvp/platform';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { GatewayConfig } from '../config';
import { UsersService } from '../users/users.service';
import { type AccessTokenClaims, JWT_ALGORITHM, JWT_ISSUER } from './jwt.constants';
import type { AuthenticatedPrincipal } from './principal';

/**
 * Access tokens: HS256 only (alg "none" and every other algorithm refused by jsonwebtoken),
 * exp and nbf enforced, issuer checked, and the user re-read on every request so tokens of
 * disabled or deleted users stop working at once.
 */
@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    @InjectConfig() config: GatewayConfig,
    private readonly users: UsersService,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKey: config.CVP_JWT_SECRET,
      algorithms: [JWT_ALGORITHM],
      issuer: JWT_ISSUER,
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: 0 },
    });
  }

  async validate(claims: AccessTokenClaims): Promise<AuthenticatedPrincipal> {
    if (claims.typ !== 'access' || typeof claims.sub !== 'string')
      throw new UnauthorizedException('not an access token');
    const user = await this.users.findById(claims.sub);
    if (!user) throw new UnauthorizedException('user no longer exists');
    if (user.disabled) throw new UnauthorizedException('user is disabled');
    // The role comes from the database, not the token: a demoted user loses rights at once.
    return { kind: 'user', id: user.id, ownerId: user.id, name: user.username, role: user.role };
  }
}
