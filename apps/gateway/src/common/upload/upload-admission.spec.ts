import { UploadAdmission, UploadsBusyException } from './upload-admission';

describe('UploadAdmission', () => {
  it('admits up to the limit, answers 429 with Retry-After beyond it, and frees slots once per release', () => {
    const a = new UploadAdmission(2);
    const r1 = a.acquire();
    const r2 = a.acquire();
    expect(() => a.acquire()).toThrow(UploadsBusyException);
    try {
      a.acquire();
    } catch (e) {
      expect((e as UploadsBusyException).getStatus()).toBe(429);
      expect((e as UploadsBusyException).retryAfterSeconds).toBeGreaterThan(0);
    }
    r1();
    r1(); // idempotent
    expect(a.active).toBe(1);
    const r3 = a.acquire();
    r2();
    r3();
    expect(a.active).toBe(0);
  });
});
