import { describe, expect, it } from 'vitest';
import { problemOf } from '../../../lib/api/problem.ts';
import { ConfigError, ConflictError, StoreError, UsageError, unknownEnvironment } from '../../../lib/core/errors.ts';

describe('errors as RFC 9457 problems', () => {
  it('maps each kind of Karma error to its status, with the valid names or the problems', () => {
    expect(problemOf(unknownEnvironment('qa', ['dev', 'prod']))).toMatchObject({ status: 404, type: 'urn:karma:problem:not-found', known: ['dev', 'prod'] });
    expect(problemOf(new UsageError('depth must be 0 to 10'))).toMatchObject({ status: 400, detail: 'depth must be 0 to 10' });
    expect(problemOf(new ConflictError('HEAD moved'))).toMatchObject({ status: 409 });
    expect(problemOf(new StoreError('SSM throttled'))).toMatchObject({ status: 503 });
    expect(problemOf(new ConfigError([{ file: 'environments/dev/app.json', line: 3, message: 'unknown input' }]))).toMatchObject({
      status: 422,
      problems: [{ path: 'environments/dev/app.json:3', message: 'unknown input' }],
    });
  });

  it('says only the kind of an unexpected error: its message may hold anything', () => {
    const p = problemOf(new TypeError('cannot read secret s3cr3t'));
    expect(p).toMatchObject({ status: 500 });
    expect(JSON.stringify(p)).not.toContain('s3cr3t');
  });
});
