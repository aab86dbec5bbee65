import { HttpException, HttpStatus } from '@nestjs/common';

/** 429 with Retry-After (ProblemDetailsFilter sets the header from retryAfterSeconds). */
export class AccountLockedException extends HttpException {
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed logins; account locked for ${retryAfterSeconds} s`, HttpStatus.TOO_MANY_REQUESTS);
  }
}
