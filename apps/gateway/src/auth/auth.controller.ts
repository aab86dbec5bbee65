import { Body, Controller, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiTags, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ThrottlerGuard } from '@nestjs/throttler';
import { Public, Roles } from '@cvp/platform';
import { ROLES } from '@cvp/contracts';
import { LoginDto, loginSchema, PrincipalDto, RefreshDto, refreshSchema, TokenPairDto } from './auth.dto';
import { AuthService } from './auth.service';
import { type AuthenticatedPrincipal, CurrentPrincipal } from './principal';
import { ZodValidationPipe } from '../common/zod-validation.pipe';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  /** Throttled per client address (ThrottlerGuard) and per account (temporary lockout). */
  @Post('login')
  @Public()
  @UseGuards(ThrottlerGuard)
  @HttpCode(200)
  @ApiBody({ type: LoginDto })
  @ApiOkResponse({ type: TokenPairDto })
  @ApiUnauthorizedResponse({ description: 'wrong username or password, or a disabled account' })
  @ApiTooManyRequestsResponse({ description: 'throttled, or account temporarily locked (Retry-After)' })
  login(@Body(new ZodValidationPipe(loginSchema)) body: { username: string; password: string }) {
    return this.auth.login(body.username, body.password);
  }

  @Post('refresh')
  @Public()
  @UseGuards(ThrottlerGuard)
  @HttpCode(200)
  @ApiBody({ type: RefreshDto })
  @ApiOkResponse({ type: TokenPairDto, description: 'a new pair; the refresh token given is spent' })
  @ApiUnauthorizedResponse({
    description: 'invalid, expired or already used refresh token (reuse revokes every session of the user)',
  })
  @ApiTooManyRequestsResponse({ description: 'throttled (Retry-After)' })
  refresh(@Body(new ZodValidationPipe(refreshSchema)) body: { refreshToken: string }) {
    return this.auth.refresh(body.refreshToken);
  }

  @Get('me')
  @Roles(...ROLES, 'infer')
  @ApiOkResponse({ type: PrincipalDto })
  me(@CurrentPrincipal() who: AuthenticatedPrincipal) {
    return who;
  }
}
