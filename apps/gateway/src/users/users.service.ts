import { randomBytes, randomUUID } from 'node:crypto';
import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { InjectConfig } from '@cvp/platform';
import type { Role } from '@cvp/contracts';
import bcrypt from 'bcryptjs';
import { type EntityManager, Not, Repository } from 'typeorm';
import type { GatewayConfig } from '../config';
import { type Page, pageOf, type PaginationQuery, skipTake } from '../common/pagination';
import type { CreateUserInput, UpdateUserInput } from './users.dto';
import { toUserView, UserEntity, type UserView } from './user.entity';

/** The advisory lock every gateway on a PostgreSQL database takes to change an admin's standing. */
const ADMIN_STANDING_LOCK_KEY = 4_211_780_019;

const enabledAdmin = (u: Pick<UserEntity, 'role' | 'disabled'>) => u.role === 'admin' && !u.disabled;

@Injectable()
export class UsersService {
  /** Changes that may take an admin away queue here (all that SQLite's single gateway needs). */
  private adminChanges: Promise<unknown> = Promise.resolve();

  constructor(
    @InjectRepository(UserEntity) private readonly users: Repository<UserEntity>,
    @InjectConfig() private readonly config: GatewayConfig,
  ) {}

  hashPassword(password: string): Promise<string> {
    return bcrypt.hash(password, this.config.CVP_BCRYPT_ROUNDS);
  }

  async create(input: CreateUserInput): Promise<UserView> {
    if (await this.users.existsBy({ username: input.username }))
      throw new ConflictException(`user ${input.username} exists`);
    const now = new Date().toISOString();
    const user = this.users.create({
      id: randomUUID(),
      username: input.username,
      passwordHash: await this.hashPassword(input.password),
      role: input.role,
      disabled: false,
      failedLogins: 0,
      lockedUntil: null,
      lastLoginAt: null,
      createdAt: now,
      updatedAt: now,
    });
    await this.users.save(user);
    return toUserView(user);
  }

  async list(q: PaginationQuery & { role?: Role }): Promise<Page<UserView>> {
    const [rows, total] = await this.users.findAndCount({
      where: q.role ? { role: q.role } : {},
      order: { createdAt: 'ASC', id: 'ASC' },
      ...skipTake(q),
    });
    return pageOf(rows.map(toUserView), total, q);
  }

  async get(id: string): Promise<UserView> {
    return toUserView(await this.entity(id));
  }

  async entity(id: string): Promise<UserEntity> {
    const u = await this.users.findOneBy({ id });
    if (!u) throw new NotFoundException(`user ${id} not found`);
    return u;
  }

  findById(id: string): Promise<UserEntity | null> {
    return this.users.findOneBy({ id });
  }

  findByUsername(username: string): Promise<UserEntity | null> {
    return this.users.findOneBy({ username });
  }

  async update(id: string, input: UpdateUserInput): Promise<UserView> {
    const passwordHash = input.password ? await this.hashPassword(input.password) : undefined;
    const demotes = input.disabled === true || (input.role !== undefined && input.role !== 'admin');
    const change = async (users: Repository<UserEntity>) => {
      const u = await users.findOneBy({ id });
      if (!u) throw new NotFoundException(`user ${id} not found`);
      if (enabledAdmin(u) && demotes) await this.keepAnotherAdmin(users, u, 'disabled or given another role');
      if (passwordHash) u.passwordHash = passwordHash;
      if (input.role) u.role = input.role;
      if (input.disabled !== undefined) u.disabled = input.disabled;
      // Re-enabling or resetting a password also clears a lockout.
      if (input.password || input.disabled === false) {
        u.failedLogins = 0;
        u.lockedUntil = null;
      }
      u.updatedAt = new Date().toISOString();
      return toUserView(await users.save(u));
    };
    return demotes ? this.changingAdminStanding(change) : change(this.users);
  }

  async remove(id: string): Promise<void> {
    await this.changingAdminStanding(async (users) => {
      const u = await users.findOneBy({ id });
      if (!u) throw new NotFoundException(`user ${id} not found`);
      if (enabledAdmin(u)) await this.keepAnotherAdmin(users, u, 'deleted');
      await users.delete({ id });
    });
  }

  /** The platform must keep an enabled admin, or nobody could manage users again (409 otherwise). */
  private async keepAnotherAdmin(users: Repository<UserEntity>, u: UserEntity, what: string): Promise<void> {
    if ((await users.countBy({ role: 'admin', disabled: false, id: Not(u.id) })) === 0)
      throw new ConflictException(
        `${u.username} is the last enabled admin and cannot be ${what}; make another user an admin first`,
      );
  }

  /**
   * Runs a change that may take an admin away in one transaction, one such change at a time, so two
   * admins disabling each other at once cannot both win: in this process by a queue, and across
   * gateways on PostgreSQL by an advisory lock held to the commit.
   */
  private changingAdminStanding<T>(fn: (users: Repository<UserEntity>) => Promise<T>): Promise<T> {
    const inTx = () =>
      this.users.manager.transaction(async (tx: EntityManager) => {
        if (tx.connection.options.type === 'postgres')
          await tx.query('SELECT pg_advisory_xact_lock($1)', [ADMIN_STANDING_LOCK_KEY]);
        return fn(tx.getRepository(UserEntity));
      });
    const run = this.adminChanges.catch(() => undefined).then(inTx);
    this.adminChanges = run;
    return run;
  }

  save(u: UserEntity): Promise<UserEntity> {
    return this.users.save(u);
  }

  /**
   * Seeds the first admin when the users table is empty. Returns the generated password when one
   * had to be made (the caller prints it once), null when the table already had users.
   */
  async seedAdminIfEmpty(
    username: string,
    password?: string,
  ): Promise<{ username: string; generatedPassword?: string } | null> {
    if ((await this.users.count()) > 0) return null;
    const pw = password ?? randomBytes(18).toString('base64url');
    await this.create({ username, password: pw, role: 'admin' });
    return password ? { username } : { username, generatedPassword: pw };
  }
}
