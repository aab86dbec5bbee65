import { NotFoundException } from '@nestjs/common';
import { isDependencyUnavailable, ProblemDetailsFilter } from './problem.filter';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('ProblemDetailsFilter: an unavailable database is 503, other failures stay what they are', () => {
  const filter = new ProblemDetailsFilter();

  it.each([
    ['connection refused (server stopped)', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    [
      'admin shutdown of a PostgreSQL backend',
      withCode('terminating connection due to administrator command', '57P01'),
    ],
    ['PostgreSQL still starting up', withCode('the database system is starting up', '57P03')],
    ['PostgreSQL out of connections', withCode('sorry, too many clients already', '53300')],
    ['PostgreSQL out of disk', withCode('could not extend file: No space left on device', '53100')],
    ['a connection exception', withCode('connection failure', '08006')],
    ['node-postgres lost its socket', new Error('Connection terminated unexpectedly')],
    ['pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['SQLite locked past the busy timeout', withCode('SQLITE_BUSY: database is locked', 'SQLITE_BUSY')],
    [
      'a TypeORM error wrapping one of these',
      Object.assign(new Error('query failed'), { driverError: withCode('terminating connection', '57P01') }),
    ],
  ])('%s -> 503', (_what, err) => {
    expect(isDependencyUnavailable(err)).toBe(true);
    expect(filter.toProblem(err)).toMatchObject({ status: 503, title: 'Service Unavailable' });
  });

  it.each([
    ['a unique violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['a syntax error', withCode('syntax error at or near "SELEC"', '42601')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['not an error at all', 'boom'],
  ])('%s -> 500', (_what, err) => {
    expect(isDependencyUnavailable(err)).toBe(false);
    expect(filter.toProblem(err)).toMatchObject({ status: 500 });
  });

  it('leaves HTTP exceptions alone', () => {
    expect(filter.toProblem(new NotFoundException('model x not found'))).toMatchObject({ status: 404 });
  });
});
