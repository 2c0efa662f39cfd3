import { describe, expect, it } from 'vitest';
import { backoffDelay, TokenBucket, withBackoff } from '../../../lib/shared/rate-limit.ts';
import { isRetryableAwsError } from '../../../lib/adapters/ssm/runtime-store.ts';

/** A fake clock: sleep() advances it. */
function fakeTime(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return { now: () => t, sleep: async (ms) => void (slept.push(ms), (t += ms)), slept };
}

describe('TokenBucket', () => {
  it('lets a burst through, then holds callers to the rate', async () => {
    // Prepare
    const time = fakeTime();
    const bucket = new TokenBucket(10, { burst: 5, now: time.now, sleep: time.sleep });

    // Act: 25 requests at 10/s with a burst of 5
    for (let i = 0; i < 25; i++) await bucket.take();

    // Assess: the 20 beyond the burst need 2 s
    expect(time.now()).toBeGreaterThanOrEqual(2000);
    expect(time.now()).toBeLessThan(2100);
  });

  it('serves concurrent callers one token each', async () => {
    const time = fakeTime();
    const bucket = new TokenBucket(4, { burst: 1, now: time.now, sleep: time.sleep });
    await Promise.all(Array.from({ length: 9 }, () => bucket.take()));
    expect(time.now()).toBeGreaterThanOrEqual(2000);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new TokenBucket(0)).toThrow(/rate must be > 0/);
  });
});

describe('withBackoff', () => {
  it('retries retryable errors with capped, jittered exponential delays, then gives up with the last error', async () => {
    const time = fakeTime();
    let calls = 0;
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const attempt = withBackoff({ attempts: 4, baseMs: 100, maxMs: 300 }, isRetryableAwsError, async () => {
      calls++;
      throw throttled;
    }, { sleep: time.sleep, random: () => 0.999 });
    await expect(attempt).rejects.toBe(throttled);
    expect(calls).toBe(4);
    expect(time.slept).toEqual([99, 199, 299]);
  });

  it('does not retry a validation error', async () => {
    let calls = 0;
    const invalid = Object.assign(new Error('bad'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    await expect(withBackoff({ attempts: 5, baseMs: 1, maxMs: 1 }, isRetryableAwsError, async () => (calls++, Promise.reject(invalid)))).rejects.toBe(invalid);
    expect(calls).toBe(1);
  });

  it('returns the first success', async () => {
    let calls = 0;
    const value = await withBackoff({ attempts: 5, baseMs: 1, maxMs: 1 }, () => true, async () => (++calls < 3 ? Promise.reject(new Error('x')) : 'ok'), { sleep: async () => undefined });
    expect(value).toBe('ok');
    expect(calls).toBe(3);
  });

  it('backoffDelay stays within [0, min(max, base·2^n))', () => {
    expect(backoffDelay({ attempts: 9, baseMs: 100, maxMs: 1000 }, 8, () => 0.5)).toBe(500);
    expect(backoffDelay({ attempts: 9, baseMs: 100, maxMs: 1000 }, 1, () => 0)).toBe(0);
  });

  it('classifies throttling and 5xx as retryable, 4xx as not', () => {
    expect(isRetryableAwsError({ name: 'ThrottlingException' })).toBe(true);
    expect(isRetryableAwsError({ name: 'InternalServerError', $metadata: { httpStatusCode: 500 } })).toBe(true);
    expect(isRetryableAwsError({ name: 'ParameterNotFound', $metadata: { httpStatusCode: 400 } })).toBe(false);
    expect(isRetryableAwsError(undefined)).toBe(false);
  });
});
