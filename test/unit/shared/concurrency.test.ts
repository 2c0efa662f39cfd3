/** lib/shared/concurrency.ts: the one bounded-concurrency helper. */
import { describe, expect, it } from 'vitest';
import { mapLimit } from '../../../lib/shared/concurrency.ts';

const tick = (): Promise<void> => new Promise((ok) => setTimeout(ok, 1));

describe('mapLimit', () => {
  it('keeps at most `limit` calls in flight and returns results in the order of the items', async () => {
    // Prepare
    let inFlight = 0;
    let most = 0;
    // Act
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (n, i) => {
      most = Math.max(most, ++inFlight);
      for (let k = 0; k < n; k++) await tick();
      inFlight--;
      return `${i}:${n * 10}`;
    });
    // Assess
    expect(out).toEqual(['0:50', '1:10', '2:40', '3:20', '4:30', '5:0', '6:60']);
    expect(most).toBe(3);
  });

  it('after a failure starts nothing new, waits for the calls in flight, then throws the first error', async () => {
    // Prepare
    const started: number[] = [];
    const finished: number[] = [];
    // Act
    const run = mapLimit([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      await tick();
      if (n === 1) throw new Error('item 1 failed');
      await tick();
      finished.push(n);
      return n;
    });
    // Assess
    await expect(run).rejects.toThrow('item 1 failed');
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([0]);
  });

  it('an empty list is an empty result; a limit below 1 is refused', async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
    await expect(mapLimit([1], 0, async () => 1)).rejects.toThrow('concurrency limit must be at least 1, got 0');
  });
});
