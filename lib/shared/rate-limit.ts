/**
 * Client-side throttling and backoff, for any client of a remote API: a token bucket every request waits on
 * (SSM's read APIs share 40 TPS per account and region by default), and exponential backoff with full jitter
 * for the requests that get throttled or conflict anyway (the SSM and Neptune adapters use both).
 */

export interface Sleeper {
  (ms: number): Promise<void>;
}

export const realSleep: Sleeper = (ms) => new Promise((ok) => setTimeout(ok, ms));

/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`; take() waits for one token.
 * Waiters are served in order, so a burst of callers is spread out evenly.
 */
export class TokenBucket {
  readonly ratePerSecond: number;
  readonly burst: number;
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly sleep: Sleeper;

  constructor(ratePerSecond: number, options: { burst?: number; now?: () => number; sleep?: Sleeper } = {}) {
    if (!(ratePerSecond > 0)) throw new RangeError(`rate must be > 0 requests per second, got ${ratePerSecond}`);
    this.ratePerSecond = ratePerSecond;
    this.burst = Math.max(1, options.burst ?? Math.ceil(ratePerSecond / 4));
    this.tokens = this.burst;
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? realSleep;
    this.last = this.now();
  }

  /** Resolves when the caller may send one request. */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.acquire());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async acquire(): Promise<void> {
    for (;;) {
      const now = this.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSecond);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.sleep(Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000));
    }
  }
}

export interface BackoffPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Full jitter: a random wait in [0, min(max, base·2^attempt)). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(policy.maxMs, policy.baseMs * 2 ** attempt));
}

/**
 * Runs `fn`, retrying while `retryable(error)` says so, at most `policy.attempts` times in all, waiting
 * with full jitter in between. The last error is thrown as is.
 */
export async function withBackoff<T>(
  policy: BackoffPolicy,
  retryable: (error: unknown) => boolean,
  fn: (attempt: number) => Promise<T>,
  options: { sleep?: Sleeper; random?: () => number; onRetry?: (error: unknown, attempt: number, delayMs: number) => void | Promise<void> } = {},
): Promise<T> {
  const sleep = options.sleep ?? realSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt + 1 >= policy.attempts || !retryable(error)) throw error;
      const delay = backoffDelay(policy, attempt, options.random);
      await options.onRetry?.(error, attempt, delay);
      await sleep(delay);
    }
  }
}
