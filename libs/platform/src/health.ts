import { Controller, Get, Injectable } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';

export type ReadinessCheck = () => Promise<boolean | string> | boolean | string;

/** Readiness checks registered by the parts of a service that must work before it takes traffic. */
@Injectable()
export class ReadinessChecks {
  private readonly checks = new Map<string, ReadinessCheck>();

  register(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** Each check bounded to 2 s so a stuck dependency reads as down, not as a hung probe. */
  async run(name: string, indicator: HealthIndicatorService) {
    const check = this.checks.get(name)!;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      Promise.resolve().then(check),
      new Promise<string>((r) => (timer = setTimeout(() => r('check timed out after 2 s'), 2000))),
    ])
      .catch((e: Error) => e.message)
      .finally(() => clearTimeout(timer));
    const i = indicator.check(name);
    return outcome === true ? i.up() : i.down({ reason: typeof outcome === 'string' ? outcome : 'not ready' });
  }

  names(): string[] {
    return [...this.checks.keys()];
  }
}

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly checks: ReadinessChecks,
  ) {}

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check(this.checks.names().map((n) => () => this.checks.run(n, this.indicator)));
  }
}
