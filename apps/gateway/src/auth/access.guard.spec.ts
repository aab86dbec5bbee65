import { Controller, ForbiddenException, Get } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { Public, Roles } from '@cvp/platform';
import type { ApiKeysService } from '../api-keys/api-keys.service';
import { AccessGuard } from './access.guard';

@Controller('probe')
class ProbeController {
  @Get('undeclared') undeclared() {}
  @Get('open') @Public() open() {}
  @Get('infer') @Roles('infer') infer() {}
}

describe('AccessGuard (deny by default)', () => {
  const apiKeys = {
    authenticate: async (k: string) =>
      k === 'cvp_good' ? { kind: 'apiKey', id: 'apikey:1', ownerId: 'u', name: 'k', role: 'infer' } : null,
  } as unknown as ApiKeysService;
  const guard = new AccessGuard(new Reflector(), apiKeys);
  const ctx = (handler: keyof ProbeController, authorization?: string) =>
    new ExecutionContextHost(
      [{ headers: authorization ? { authorization } : {} }, {}],
      ProbeController,
      ProbeController.prototype[handler] as () => void,
    );

  it('refuses a route without a declaration even with credentials', async () => {
    await expect(guard.canActivate(ctx('undeclared', 'Bearer cvp_good'))).rejects.toBeInstanceOf(ForbiddenException);
  });
  it('lets public routes through without credentials', async () => {
    await expect(guard.canActivate(ctx('open'))).resolves.toBe(true);
  });
  it('accepts a valid API key on an infer route and refuses an unknown one with 401', async () => {
    await expect(guard.canActivate(ctx('infer', 'Bearer cvp_good'))).resolves.toBe(true);
    await expect(guard.canActivate(ctx('infer', 'Bearer cvp_bad'))).rejects.toMatchObject({ status: 401 });
    await expect(guard.canActivate(ctx('infer'))).rejects.toMatchObject({ status: 401 });
  });
});
