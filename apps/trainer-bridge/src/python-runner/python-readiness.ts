import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectLogger, ReadinessChecks } from '@cvp/platform';
import type { Logger } from 'pino';
import { PythonRunner } from './python-runner.service';

/** Bound on the one start-up check (importing cvp_ml is quick; a cold disk is not). */
export const PYTHON_CHECK_TIMEOUT_MS = 60_000;

/**
 * /health/ready reports `python` down until the venv answers with cvp_ml's version once, at
 * start-up; jobs need it, so the service is not ready without it.
 */
@Injectable()
export class PythonReadiness implements OnApplicationBootstrap {
  private state: true | string = 'checking the python environment';
  version?: string;

  constructor(
    private readonly python: PythonRunner,
    private readonly readiness: ReadinessChecks,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    this.readiness.register('python', () => this.state);
    void this.check();
  }

  async check(): Promise<true | string> {
    try {
      this.version = await this.python.version(PYTHON_CHECK_TIMEOUT_MS);
      this.state = true;
      this.logger.info({ python: this.python.pythonPath, cvpMl: this.version }, 'python environment ready');
    } catch (e) {
      this.state = `${this.python.pythonPath}: ${(e as Error).message}`;
      this.logger.error(
        { python: this.python.pythonPath, err: (e as Error).message },
        'python environment unusable: run the bootstrap (python/scripts/setup-venv.sh)',
      );
    }
    return this.state;
  }
}
