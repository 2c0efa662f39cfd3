/** setEnv and withEnv (test/support/stand-ins.ts) put back exactly what they changed, set or unset. */
import { afterEach, describe, expect, it } from 'vitest';
import { setEnv, withEnv } from '../../support/stand-ins.ts';

const A = 'KARMA_TEST_SET_ENV_A';
const B = 'KARMA_TEST_SET_ENV_B';
afterEach(() => {
  delete process.env[A];
  delete process.env[B];
});

describe('setEnv', () => {
  it('sets and unsets the named variables, and its restore puts each back as it was', () => {
    // Prepare
    process.env[A] = 'before';

    // Act
    const restore = setEnv({ [A]: undefined, [B]: 'new' });
    const during = [process.env[A], process.env[B]];
    restore();

    // Assess
    expect(during).toEqual([undefined, 'new']);
    expect([process.env[A], B in process.env]).toEqual(['before', false]);
  });
});

describe('withEnv', () => {
  it('restores the variables when the function throws, and returns what it returns', async () => {
    // Act
    const failed = await withEnv({ [A]: 'x' }, () => Promise.reject(new Error('boom'))).catch((e: unknown) => (e as Error).message);
    const value = await withEnv({ [B]: 'y' }, () => process.env[B]);

    // Assess
    expect([failed, value]).toEqual(['boom', 'y']);
    expect([A in process.env, B in process.env]).toEqual([false, false]);
  });
});
