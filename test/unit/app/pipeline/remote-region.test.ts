/** `karma pipeline status ARN` / `start`: the region comes from the ARN when --region is absent. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { arnRegion } from '../../../../lib/app/pipeline/remote.ts';
import { main } from '../../../../lib/cli/main.ts';
import { memoryIO } from '../../../../lib/cli/io.ts';

describe('arnRegion', () => {
  it.each([
    ['arn:aws:states:eu-west-1:123456789012:execution:Karma-pipeline:dev-apply-head-abc', 'eu-west-1'],
    ['arn:aws:states:us-gov-west-1:123456789012:stateMachine:Karma', 'us-gov-west-1'],
    ['arn:aws-cn:states:cn-north-1:123456789012:execution:m:n', 'cn-north-1'],
  ])('%s is in %s', (arn, region) => {
    expect(arnRegion(arn)).toBe(region);
  });

  it('is undefined for something that is not a Step Functions ARN', () => {
    expect(arnRegion('dev-apply-head-abc')).toBeUndefined();
  });
});

describe('pipeline status without --region and without a region in the environment', () => {
  const saved: Record<string, string | undefined> = {};
  const KEYS = ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_ENDPOINT_URL_SFN', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_MAX_ATTEMPTS'];
  beforeEach(() => {
    for (const k of KEYS) saved[k] = process.env[k];
    delete process.env['AWS_REGION'];
    delete process.env['AWS_DEFAULT_REGION'];
    delete process.env['AWS_PROFILE'];
    process.env['AWS_CONFIG_FILE'] = '/nonexistent/karma-test-aws-config';
    // Nothing listens on port 9 (discard): the request fails fast, after the region was settled.
    process.env['AWS_ENDPOINT_URL_SFN'] = 'http://127.0.0.1:9';
    process.env['AWS_ACCESS_KEY_ID'] = 'testing';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'testing';
    process.env['AWS_MAX_ATTEMPTS'] = '1';
  });
  afterEach(() => {
    for (const k of KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('gets as far as calling Step Functions (the region is the ARN\'s), instead of "Region is missing"', async () => {
    // Arrange
    const io = memoryIO();
    const arn = 'arn:aws:states:eu-west-1:123456789012:execution:Karma-pipeline:dev-apply-head-abc';

    // Act
    const code = await main(['pipeline', 'status', arn], io);

    // Assess
    expect(code).toBe(1);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toMatch(new RegExp(`^karma: DescribeExecution ${arn} failed: `));
    expect(io.stderr[0]).not.toContain('Region is missing');
  });
});
