/** The one signing algorithm; tokens signed any other way (or "none") are refused. */
export const JWT_ALGORITHM = 'HS256' as const;
export const JWT_ISSUER = 'cvp-gateway';

export interface AccessTokenClaims {
  sub: string;
  typ: 'access';
  role: string;
  name: string;
}
export interface RefreshTokenClaims {
  sub: string;
  typ: 'refresh';
  jti: string;
}
