import { Get, HttpException, Param, ParseUUIDPipe, Post, Query, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { h } from 'preact';
import { z } from 'zod';
import { ApiKeysService } from '../../api-keys/api-keys.service';
import { auditQuery, AuditService } from '../../audit/audit.service';
import { createUserSchema } from '../../users/users.dto';
import { UsersService } from '../../users/users.service';
import type { UiRequest } from '../session/ui-request';
import {
  CanAdminister,
  fieldErrors,
  formFields,
  redirectAfterAction,
  UiController,
  withoutEmpty,
} from '../ui-controller';
import { UiRenderer } from '../ui-renderer';
import { AdminPage, ApiKeyForm, AuditPage, UserForm } from './admin.view';

const apiKeyForm = z
  .object({ name: z.string({ required_error: 'give the key a name' }).min(1, 'give the key a name').max(100) })
  .strict();

@UiController('ui/admin')
@CanAdminister()
export class UiAdminController {
  constructor(
    private readonly users: UsersService,
    private readonly keys: ApiKeysService,
    private readonly audit: AuditService,
    private readonly renderer: UiRenderer,
  ) {}

  @Get()
  async page(@Req() req: UiRequest, @Res() res: Response) {
    const [users, keys] = await Promise.all([
      this.users.list({ page: 1, limit: 200 }),
      this.keys.list({ page: 1, limit: 200 }, req.user!),
    ]);
    this.renderer.page(res, h(AdminPage, { ctx: this.renderer.context(req), users: users.items, keys: keys.items }));
  }

  @Post('users')
  async createUser(@Req() req: UiRequest, @Res() res: Response) {
    const values = formFields(req.body);
    const ctx = this.renderer.context(req);
    const parsed = createUserSchema.safeParse(values);
    if (!parsed.success)
      return this.renderer.fragment(res, h(UserForm, { ctx, errors: fieldErrors(parsed.error), values }), 422);
    try {
      await this.users.create(parsed.data);
    } catch (e) {
      if (!(e instanceof HttpException) || e.getStatus() >= 500) throw e;
      return this.renderer.fragment(res, h(UserForm, { ctx, errors: { username: e.message }, values }), e.getStatus());
    }
    redirectAfterAction(req, res, '/ui/admin');
  }

  @Post('users/:id/disable')
  async disable(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    if (id === req.user!.id) throw new HttpException('you cannot disable your own account', 409);
    await this.users.update(id, { disabled: true });
    redirectAfterAction(req, res, '/ui/admin');
  }

  @Post('users/:id/enable')
  async enable(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    await this.users.update(id, { disabled: false });
    redirectAfterAction(req, res, '/ui/admin');
  }

  @Post('api-keys')
  async createKey(@Req() req: UiRequest, @Res() res: Response) {
    const values = formFields(req.body);
    const ctx = this.renderer.context(req);
    const parsed = apiKeyForm.safeParse(withoutEmpty(values));
    if (!parsed.success)
      return this.renderer.fragment(res, h(ApiKeyForm, { ctx, errors: fieldErrors(parsed.error), values }), 422);
    const created = await this.keys.create({ name: parsed.data.name }, req.user!);
    this.renderer.fragment(res, h(ApiKeyForm, { ctx, created: { name: created.name, key: created.key } }), 201);
  }

  @Post('api-keys/:id/revoke')
  async revokeKey(@Param('id', ParseUUIDPipe) id: string, @Req() req: UiRequest, @Res() res: Response) {
    await this.keys.revoke(id, req.user!);
    redirectAfterAction(req, res, '/ui/admin');
  }

  @Get('audit')
  async auditLog(@Query() query: Record<string, unknown>, @Req() req: UiRequest, @Res() res: Response) {
    const cleaned = Object.fromEntries(
      Object.entries(query).filter(([k, v]) => ['actor', 'result', 'page'].includes(k) && v !== ''),
    );
    const q = auditQuery.parse({ ...cleaned, limit: 50 });
    const page = await this.audit.list(q);
    this.renderer.page(
      res,
      h(AuditPage, {
        ctx: this.renderer.context(req),
        entries: page.items,
        total: page.total,
        page: page.page,
        limit: page.limit,
        filter: { actor: q.actor, result: q.result },
      }),
    );
  }
}
