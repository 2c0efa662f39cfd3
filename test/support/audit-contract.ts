/**
 * The AuditLog contract (lib/ports.ts, docs/audit.md), as cases every implementation runs: the SQLite log and the
 * in-memory one in test/unit/adapters/audit-log.test.ts, the DynamoDB log on moto in
 * test/integration/dynamodb-audit-log.test.ts. Exact values, so the three cannot drift apart.
 */
import { describe, expect, it } from 'vitest';
import { AUDIT_ID, AuditEntryExistsError, MAX_AUDIT_ENTRY_BYTES, type NewAuditEntry } from '../../lib/adapters/audit.ts';
import { UsageError } from '../../lib/core/errors.ts';
import type { AuditEntry, AuditLog } from '../../lib/ports.ts';

/** One store under test: `log()` opens a log on it, `log(newId)` one on the same store that makes ids with `newId`. */
export interface AuditStore {
  log(newId?: (at: string) => string): AuditLog;
  close(): Promise<void>;
}

/** An entry at second `s` of 2026-12-02T10:00 (so entries sort by `s`), for `change`. */
export function entryAt(s: number, change = 'chg-1', extra: Partial<NewAuditEntry> = {}): NewAuditEntry {
  return {
    at: `2026-12-02T10:00:${String(s).padStart(2, '0')}.000Z`,
    actor: 'alice@laptop',
    action: 'change.requested',
    change,
    component: 'app',
    env: 'karma-dev',
    ...extra,
  };
}

/** Every page of `list`, following `next`. */
export async function allPages(log: AuditLog, limit: number, change?: string): Promise<AuditEntry[][]> {
  const pages: AuditEntry[][] = [];
  let after: string | undefined;
  do {
    const page = await log.list({ limit, ...(after ? { after } : {}), ...(change ? { change } : {}) });
    pages.push(page.entries);
    after = page.next;
  } while (after && pages.length < 100);
  return pages;
}

export function auditLogContract(name: string, open: () => Promise<AuditStore>): void {
  describe(`${name}: the AuditLog contract`, () => {
    const withStore = async (fn: (store: AuditStore) => Promise<void>): Promise<void> => {
      const store = await open();
      try {
        await fn(store);
      } finally {
        await store.close();
      }
    };

    it('appends with a sortable id and reads every field back exactly, newest first', () =>
      withStore(async (store) => {
        // Prepare
        const log = store.log();
        const diff = [{ path: 'size', kind: 'changed', before: 'small', after: 'large' }, { path: 'tags.team', kind: 'added', after: 'core' }];

        // Act
        const requested = await log.append(entryAt(1, 'chg-1', { diff, commit: 'abc123', result: 'proposal recorded' }));
        const applied = await log.append(entryAt(2, 'chg-1', { action: 'change.applied', execution: 'exec-7', result: 'applied: 2 components' }));
        const page = await log.list({ limit: 10 });

        // Assess
        expect(requested.id).toMatch(AUDIT_ID);
        expect(requested.id.startsWith('2026-12-02T10:00:01.000Z#')).toBe(true);
        expect(requested).toEqual({ id: requested.id, ...entryAt(1, 'chg-1', { diff, commit: 'abc123', result: 'proposal recorded' }) });
        expect(page).toEqual({ entries: [applied, requested] }); // no next: that was everything
        expect(Object.keys(page.entries[1]!)).toEqual(['id', 'at', 'actor', 'action', 'change', 'component', 'env', 'commit', 'diff', 'result']);
      }));

    it('writes `at` as Date.toISOString does, whatever ISO form it was given, so ids sort as times do', () =>
      withStore(async (store) => {
        const log = store.log();
        const later = await log.append({ ...entryAt(0), at: '2026-12-02T11:30:00+01:00' }); // 10:30Z
        const earlier = await log.append({ ...entryAt(0), at: '2026-12-02T10:05Z' });
        expect(later.at).toBe('2026-12-02T10:30:00.000Z');
        expect(earlier.at).toBe('2026-12-02T10:05:00.000Z');
        expect((await log.list({ limit: 5 })).entries.map((e) => e.at)).toEqual(['2026-12-02T10:30:00.000Z', '2026-12-02T10:05:00.000Z']);
      }));

    it('pages with `after` = the last id of the page before; the last page has no next, also when it is full', () =>
      withStore(async (store) => {
        // Prepare: 5 entries, appended out of time order.
        const log = store.log();
        const ids: Record<number, string> = {};
        for (const s of [3, 1, 5, 2, 4]) ids[s] = (await log.append(entryAt(s))).id;

        // Act
        const byTwo = await allPages(log, 2);
        const byFive = await log.list({ limit: 5 });
        const first = await log.list({ limit: 2 });
        const second = await log.list({ limit: 2, after: first.next! });

        // Assess
        expect(byTwo.map((p) => p.map((e) => e.id))).toEqual([[ids[5], ids[4]], [ids[3], ids[2]], [ids[1]]]);
        expect(byFive.entries.map((e) => e.id)).toEqual([ids[5], ids[4], ids[3], ids[2], ids[1]]);
        expect(byFive.next).toBeUndefined(); // exactly full, nothing after it: no empty page to fetch
        expect(first.next).toBe(ids[4]);
        expect(second.next).toBe(ids[2]);
        expect(await log.list({ limit: 2, after: ids[1]! })).toEqual({ entries: [] });
      }));

    it("filters by change, newest first, and pages within one change's entries", () =>
      withStore(async (store) => {
        const log = store.log();
        const a: string[] = [];
        for (let s = 1; s <= 6; s++) {
          const e = await log.append(entryAt(s, s % 2 === 0 ? 'chg-a' : 'chg-b'));
          if (e.change === 'chg-a') a.unshift(e.id);
        }
        const pages = await allPages(log, 2, 'chg-a');
        expect(pages.map((p) => p.map((e) => e.id))).toEqual([a.slice(0, 2), a.slice(2)]);
        expect(pages.flat().every((e) => e.change === 'chg-a')).toBe(true);
        expect(await log.list({ limit: 5, change: 'chg-none' })).toEqual({ entries: [] });
      }));

    it('never overwrites: a taken id is retried once with a fresh one, and refused when taken again', () =>
      withStore(async (store) => {
        // Prepare: a log whose ids always collide, and one whose first id collides and second does not.
        const fixed = '2026-12-02T10:00:01.000Z#00000000000000aa';
        const first = await store.log(() => fixed).append(entryAt(1, 'chg-1', { result: 'the original' }));
        let calls = 0;
        const onceTaken = store.log((at) => (calls++ === 0 ? fixed : `${at}#00000000000000bb`));

        // Act
        // (Awaited at once: a rejection left pending while the next append runs is an unhandled one.)
        const refused = await store.log(() => fixed).append(entryAt(1, 'chg-2', { result: 'an overwrite' })).catch((error: unknown) => error);
        const retried = await onceTaken.append(entryAt(1, 'chg-3'));

        // Assess
        expect(refused).toBeInstanceOf(AuditEntryExistsError);
        expect((refused as Error).message).toMatch(/taken, twice in a row/);
        expect(first.id).toBe(fixed);
        expect(retried.id).toBe('2026-12-02T10:00:01.000Z#00000000000000bb');
        expect(calls).toBe(2);
        const all = (await store.log().list({ limit: 10 })).entries;
        expect(all.map((e) => [e.id, e.change, e.result])).toEqual([
          ['2026-12-02T10:00:01.000Z#00000000000000bb', 'chg-3', undefined],
          [fixed, 'chg-1', 'the original'],
        ]);
      }));

    it('refuses a malformed entry or cursor with a UsageError naming it, and writes nothing', () =>
      withStore(async (store) => {
        const log = store.log();
        await expect(log.append({ ...entryAt(1), action: 'change.deleted' as never })).rejects.toThrow(/audit entry: action must be one of change\.requested, /);
        await expect(log.append({ ...entryAt(1), at: 'yesterday' })).rejects.toThrow(/audit entry: at must be an ISO 8601 time/);
        await expect(log.append({ ...entryAt(1), at: '2026-12-02T10:00:00' })).rejects.toBeInstanceOf(UsageError); // no zone: whose 10:00?
        await expect(log.append({ ...entryAt(1), actor: ' ' })).rejects.toThrow('audit entry: actor must be a non-empty string');
        await expect(log.append({ ...entryAt(1), change: '' })).rejects.toThrow('audit entry: change must be a non-empty string');
        await expect(log.list({ limit: 5, after: 'page-2' })).rejects.toThrow(/"page-2" is not an audit cursor/);
        await expect(log.list({ limit: 0 })).rejects.toBeInstanceOf(UsageError);
        expect(await log.list({ limit: 5 })).toEqual({ entries: [] });
      }));

    it("keeps an oversized diff's paths and kinds, not its values, and says so in the diff", () =>
      withStore(async (store) => {
        const log = store.log();
        const huge = 'x'.repeat(MAX_AUDIT_ENTRY_BYTES);
        const kept = await log.append(entryAt(1, 'chg-1', { diff: [{ path: 'blob', kind: 'changed', before: 'a', after: huge }] }));
        expect(kept.diff).toEqual([{ path: 'blob', kind: 'changed' }, { truncated: true, reason: expect.stringMatching(/^the diff's values were left out: the entry was \d+ bytes, over the 262144/) as unknown }]);
        expect((await log.list({ limit: 1 })).entries).toEqual([kept]);
        await expect(log.append(entryAt(2, 'chg-1', { result: huge }))).rejects.toThrow(/over the 262144 an audit entry keeps$/);
      }));
  });
}
