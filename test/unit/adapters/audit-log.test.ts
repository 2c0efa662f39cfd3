/**
 * The local audit log (lib/adapters/local/audit-log.ts) on a real SQLite file in a temp dir, and the in-memory
 * one of test/support: the shared AuditLog contract (test/support/audit-contract.ts), then what only the SQLite
 * table adds: entries survive closing and reopening the store, and the table itself refuses UPDATE and DELETE.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../lib/adapters/local/database.ts';
import { LocalAuditLog } from '../../../lib/adapters/local/audit-log.ts';
import { openLocalBackend } from '../../../lib/app/backend.ts';
import type { AuditEntry } from '../../../lib/ports.ts';
import { auditLogContract, entryAt } from '../../support/audit-contract.ts';
import { InMemoryAuditLog } from '../../support/memory-stores.ts';
import { makeTempDir, removeDir } from '../../helpers/config-repo.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
const tempDb = (): string => {
  const dir = makeTempDir('karma-audit-');
  dirs.push(dir);
  return join(dir, '.karma', 'karma.db');
};

auditLogContract('SQLite', async () => {
  const db = openDatabase(tempDb(), { create: true });
  return { log: (newId) => new LocalAuditLog(db, newId ? { newId } : {}), close: async () => db.close() };
});

auditLogContract('in-memory', async () => {
  const entries = new Map<string, AuditEntry>();
  return { log: (newId) => new InMemoryAuditLog({ entries, ...(newId ? { newId } : {}) }), close: async () => undefined };
});

describe('LocalAuditLog on the store file', () => {
  it('is the local backend\'s audit log, and its entries outlive the process that wrote them (closed, reopened)', async () => {
    // Prepare
    const file = tempDb();
    const writer = openLocalBackend(file, { create: true });
    const written = await writer.audit.append(entryAt(1, 'chg-1', { diff: [{ path: 'size', kind: 'added', after: 'large' }] }));
    await writer.close();

    // Act
    const reader = openLocalBackend(file, { create: false });
    try {
      // Assess
      expect(reader.audit.description).toBe(`the audit table of local store ${file}`);
      expect(await reader.audit.list({ limit: 5 })).toEqual({ entries: [written] });
    } finally {
      await reader.close();
    }
  });

  it('refuses UPDATE and DELETE on the audit table itself, and a second row with an id', async () => {
    // Prepare
    const db = openDatabase(tempDb(), { create: true });
    try {
      const entry = await new LocalAuditLog(db).append(entryAt(1));

      // Act + Assess
      expect(() => db.prepare("UPDATE audit SET actor = 'mallory' WHERE id = ?").run(entry.id)).toThrow('audit entries are never changed');
      expect(() => db.prepare('DELETE FROM audit WHERE id = ?').run(entry.id)).toThrow('audit entries are never deleted');
      expect(() => db.prepare("INSERT INTO audit (id, at, actor, action, change, component, env) VALUES (?, 'x', 'x', 'x', 'x', 'x', 'x')").run(entry.id)).toThrow(
        /UNIQUE constraint failed: audit\.id/,
      );
      expect(await new LocalAuditLog(db).list({ limit: 5 })).toEqual({ entries: [entry] });
    } finally {
      db.close();
    }
  });

  it("reads one change's page through the index, not a scan of the table", () => {
    const db = openDatabase(tempDb(), { create: true });
    try {
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT * FROM audit WHERE change = ? AND id < ? ORDER BY id DESC LIMIT 3').all('c', 'z') as { detail: string }[];
      expect(plan.map((p) => p.detail).join('\n')).toMatch(/SEARCH audit USING INDEX audit_by_change \(change=\? AND id<\?\)/);
    } finally {
      db.close();
    }
  });
});
