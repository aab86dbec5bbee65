import { HttpException, HttpStatus } from '@nestjs/common';

/** 429 with Retry-After (ProblemDetailsFilter sets the header from retryAfterSeconds). */
export class ActiveJobLimitReached extends HttpException {
  constructor(
    max: number,
    readonly retryAfterSeconds: number,
  ) {
    super(
      `you have ${max} jobs queued or running, the most one user may have (CVP_USER_MAX_ACTIVE_JOBS); retry when one has finished`,
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

/** 413: the upload would take a user past their stored-bytes limit. */
export class StorageLimitReached extends HttpException {
  constructor(used: number, incoming: number, max: number) {
    super(
      `storing ${incoming} more bytes would exceed your storage limit: ${used} of ${max} bytes used (CVP_USER_MAX_STORED_MB); delete models, data sets or packages first`,
      HttpStatus.PAYLOAD_TOO_LARGE,
    );
  }
}
