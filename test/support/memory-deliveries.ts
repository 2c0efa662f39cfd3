/** A DeliveryLog in memory, for tests of what records failed deliveries (the stores are tested on their own). */
import { randomUUID } from 'node:crypto';
import type { DeliveryLog, FailedDelivery } from '../../lib/ports.ts';

export class MemoryDeliveryLog implements DeliveryLog {
  readonly description = 'memory';
  readonly failed: FailedDelivery[] = [];
  /** Resolvers waiting for the n-th record. */
  private waiters: { count: number; resolve: () => void }[] = [];

  recordFailed(delivery: Omit<FailedDelivery, 'id'>): Promise<FailedDelivery> {
    const record: FailedDelivery = { id: `${delivery.failedAt}#${randomUUID().slice(0, 8)}`, ...delivery };
    this.failed.push(record);
    this.waiters = this.waiters.filter((w) => (this.failed.length >= w.count ? (w.resolve(), false) : true));
    return Promise.resolve(record);
  }

  listFailed(options: { readonly limit?: number } = {}): Promise<FailedDelivery[]> {
    const newest = [...this.failed].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    return Promise.resolve(newest.slice(0, options.limit ?? 100));
  }

  /** Resolves once `count` deliveries have been recorded. */
  waitFor(count: number): Promise<void> {
    if (this.failed.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}
