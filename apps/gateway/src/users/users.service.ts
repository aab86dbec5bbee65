import { randomBytes, randomUUID } from 'node:crypto';
import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { InjectConfig } from '@cvp/platform';
import type { Role } from '@cvp/contracts';
import bcrypt from 'bcryptjs';
import { Repository } from 'typeorm';
import type { GatewayConfig } from '../config';
import { type Page, pageOf, type PaginationQuery, skipTake } from '../common/pagination';
import type { CreateUserInput, UpdateUserInput } from './users.dto';
import { toUserView, UserEntity, type UserView } from './user.entity';

@Injectable()
export class UsersService {
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
    const u = await this.entity(id);
    if (input.password) u.passwordHash = await this.hashPassword(input.password);
    if (input.role) u.role = input.role;
    if (input.disabled !== undefined) u.disabled = input.disabled;
    // Re-enabling or resetting a password also clears a lockout.
    if (input.password || input.disabled === false) {
      u.failedLogins = 0;
      u.lockedUntil = null;
    }
    u.updatedAt = new Date().toISOString();
    await this.users.save(u);
    return toUserView(u);
  }

  async remove(id: string): Promise<void> {
    const r = await this.users.delete({ id });
    if (!r.affected) throw new NotFoundException(`user ${id} not found`);
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
