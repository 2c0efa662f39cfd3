/**
 * DeliveryLog on the embedded SQLite database (the `failed_deliveries` table of database.ts): one row per
 * delivery, its id `<failedAt>#<16 hex>` (sorts as the time does: newest first is ORDER BY id DESC) and the
 * delivery as JSON. The payload is the event's JSON, which carries no secret; the target has no query string.
 */
import type { DatabaseSync } from 'node:sqlite';
import { StoreError } from '../../core/errors.ts';
import type { DeliveryLog, FailedDelivery } from '../../ports.ts';
import { checkDelivery, checkListLimit, failedDelivery, newDeliveryId } from '../service-records.ts';

export class LocalDeliveryLog implements DeliveryLog {
  readonly description: string;
  private readonly db: DatabaseSync;

  constructor(db: DatabaseSync, options: { readonly description?: string } = {}) {
    this.db = db;
    this.description = options.description ?? 'the failed_deliveries table of the local store';
  }

  async recordFailed(input: Omit<FailedDelivery, 'id'>): Promise<FailedDelivery> {
    const delivery = failedDelivery(newDeliveryId(checkDelivery(input).failedAt), input);
    const { id, ...rest } = delivery;
    try {
      this.db.prepare('INSERT INTO failed_deliveries (id, doc) VALUES (?, ?)').run(id, JSON.stringify(rest));
    } catch (error) {
      throw new StoreError(`cannot record a failed delivery in the local store: ${(error as Error).message}`, { cause: error });
    }
    return delivery;
  }

  async listFailed(options: { readonly limit?: number } = {}): Promise<FailedDelivery[]> {
    const limit = checkListLimit(options.limit, 'failed deliveries');
    let rows: { id: string; doc: string }[];
    try {
      rows = this.db
        .prepare(`SELECT id, doc FROM failed_deliveries ORDER BY id DESC${limit !== undefined ? ' LIMIT ?' : ''}`)
        .all(...(limit !== undefined ? [limit] : [])) as { id: string; doc: string }[];
    } catch (error) {
      throw new StoreError(`cannot read the failed deliveries of the local store: ${(error as Error).message}`, { cause: error });
    }
    return rows.map((r) => failedDelivery(r.id, JSON.parse(r.doc) as Omit<FailedDelivery, 'id'>));
  }
}
