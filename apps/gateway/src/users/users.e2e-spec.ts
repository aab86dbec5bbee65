import { PROBLEM_CONTENT_TYPE } from '@cvp/contracts';
import { type GatewayTestApp, startGatewayTestApp, TEST_PASSWORDS } from '../testing/gateway-test-app';

describe('users: the platform keeps an enabled admin (e2e, in-process gateway, real NATS and database)', () => {
  let gw: GatewayTestApp;
  let auth: Record<string, string>;
  const patch = (id: string, body: object, headers = auth) =>
    fetch(`${gw.api}/users/${id}`, { method: 'PATCH', headers, body: JSON.stringify(body) });
  const enabledAdmins = async (headers = auth) => {
    const r = await fetch(`${gw.api}/users?role=admin`, { headers });
    const page = (await r.json()) as { items: { id: string; disabled: boolean }[] };
    return page.items.filter((u) => !u.disabled).map((u) => u.id);
  };
  /** Creates another admin (201 asserted) and returns its id. */
  const createAdmin = async (username: string, password: string) => {
    const r = await fetch(`${gw.api}/users`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ username, password, role: 'admin' }),
    });
    expect(r.status).toBe(201);
    return ((await r.json()) as { id: string }).id;
  };
  const expectLastAdminRefusal = async (r: Response) => {
    expect(r.status).toBe(409);
    expect(r.headers.get('content-type')).toContain(PROBLEM_CONTENT_TYPE);
    expect(((await r.json()) as { detail: string }).detail).toMatch(/admin is the last enabled admin/);
  };

  beforeAll(async () => {
    gw = await startGatewayTestApp();
    auth = { authorization: `Bearer ${await gw.login('admin')}`, 'content-type': 'application/json' };
  });
  afterAll(() => gw?.close());

  it('the only admin cannot disable, demote or delete themself; everything else about them still changes', async () => {
    const me = gw.userIds.admin;
    await expectLastAdminRefusal(await patch(me, { disabled: true }));
    await expectLastAdminRefusal(await patch(me, { role: 'engineer' }));
    await expectLastAdminRefusal(await fetch(`${gw.api}/users/${me}`, { method: 'DELETE', headers: auth }));
    expect(await enabledAdmins()).toEqual([me]);
    // Nothing of a refused change was written, and changes that keep them an admin go through.
    expect((await patch(me, { role: 'admin', disabled: false })).status).toBe(200);
    expect((await patch(me, { password: TEST_PASSWORDS.admin })).status).toBe(200);
    expect(await gw.login('admin')).toEqual(expect.any(String));
  });

  it('with a second admin either may be disabled, then the one left may not', async () => {
    const id = await createAdmin('second-admin', 'second-admin-pass-1');
    expect((await patch(id, { disabled: true })).status).toBe(200);
    expect(await enabledAdmins()).toEqual([gw.userIds.admin]);
    await expectLastAdminRefusal(await patch(gw.userIds.admin, { disabled: true }));
    expect((await patch(id, { disabled: false })).status).toBe(200);
    // Demoting an admin while another remains is allowed, and so is deleting a non-admin.
    expect((await patch(id, { role: 'viewer' })).status).toBe(200);
    expect((await fetch(`${gw.api}/users/${id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
  });

  it('two admins disabling each other at the same moment: exactly one wins, every time', async () => {
    const rival = await createAdmin('rival-admin', 'rival-admin-pass-1');
    const login = await fetch(`${gw.api}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'rival-admin', password: 'rival-admin-pass-1' }),
    });
    const rivalAuth = {
      authorization: `Bearer ${((await login.json()) as { accessToken: string }).accessToken}`,
      'content-type': 'application/json',
    };
    for (let round = 0; round < 8; round++) {
      const [byAdmin, byRival] = await Promise.all([
        patch(rival, { disabled: true }, auth),
        patch(gw.userIds.admin, { disabled: true }, rivalAuth),
      ]);
      // The loser is refused as the last admin (409) or, once the winner's change is in, as a
      // disabled user (401); never both through.
      const statuses = [byAdmin.status, byRival.status];
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409 || s === 401)).toHaveLength(1);
      const [winnerAuth, loser] = byAdmin.status === 200 ? [auth, rival] : [rivalAuth, gw.userIds.admin];
      expect(await enabledAdmins(winnerAuth)).toHaveLength(1);
      expect((await patch(loser, { disabled: false }, winnerAuth)).status).toBe(200);
    }
    expect((await fetch(`${gw.api}/users/${rival}`, { method: 'DELETE', headers: auth })).status).toBe(204);
  });
});
