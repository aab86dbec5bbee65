import { HttpException, HttpStatus } from '@nestjs/common';

/** 429 with Retry-After when every upload slot is taken (ProblemDetailsFilter sets the header). */
export class UploadsBusyException extends HttpException {
  readonly retryAfterSeconds = 5;
  constructor(limit: number) {
    super(`${limit} uploads are being processed; retry shortly`, HttpStatus.TOO_MANY_REQUESTS);
  }
}

/**
 * Bounds uploads processed at once (streaming to disk, sniffing, extraction, image decoding):
 * a full house answers 429 at once instead of queueing without bound.
 */
export class UploadAdmission {
  private inFlight = 0;
  constructor(readonly limit: number) {}

  /** Returns the release function; throws UploadsBusyException when full. */
  acquire(): () => void {
    if (this.inFlight >= this.limit) throw new UploadsBusyException(this.limit);
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
    };
  }

  get active(): number {
    return this.inFlight;
  }
}
