/**
 * What both audit logs (lib/adapters/local/audit-log.ts on SQLite, lib/adapters/dynamodb/audit-log.ts on
 * DynamoDB) share, so they cannot differ: the id format, the checks an entry passes before it is written, its
 * size bound, and what a page cursor may be. docs/audit.md describes the result.
 *
 * Ids are `<at>#<16 hex digits>`: `at` in the one ISO 8601 form `Date.toISOString` writes
 * (`2026-12-02T14:30:29.123Z`, always 24 characters), so ids sort as their times do, and 64 random bits after it,
 * so two entries of the same millisecond (two Lambdas, two processes) do not collide.
 */
import { randomBytes } from 'node:crypto';
import { StoreError, UsageError } from '../core/errors.ts';
import { AUDIT_ACTIONS, type AuditAction, type AuditEntry } from '../ports.ts';

export type NewAuditEntry = Omit<AuditEntry, 'id'>;

/** An audit id: the entry's time (Date.toISOString) and 16 lowercase hex digits. */
export const AUDIT_ID = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{16}$/;

/**
 * An entry as stored is at most this many bytes of JSON. DynamoDB refuses items over 400 KB; the local store keeps
 * the same bound so the two logs accept the same entries.
 */
export const MAX_AUDIT_ENTRY_BYTES = 256 * 1024;

/**
 * An append found its id taken twice in a row (a fresh random id the second time). With 64 random bits per
 * millisecond this means something rewrote ids or the store misbehaves: nothing was written, nothing overwritten.
 */
export class AuditEntryExistsError extends StoreError {
  override readonly name: string = 'AuditEntryExistsError';
}

/** `limit` of AuditLog.list: a whole number from 1 (the page bounds of GET /audit are lib/app/audit.ts's). */
export function checkAuditLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`an audit page holds at least 1 entry: limit must be a whole number from 1, got ${limit}`);
  return limit;
}

/** A new id for an entry at `at` (already canonical: see checkAuditEntry). */
export function newAuditId(at: string): string {
  return `${at}#${randomBytes(8).toString('hex')}`;
}

/** `after` as a list cursor: an id of this log (the last id of the page before), else a UsageError. */
export function checkAuditCursor(after: string | undefined): string | undefined {
  if (after === undefined) return undefined;
  if (!AUDIT_ID.test(after)) {
    throw new UsageError(`"${after.length > 60 ? `${after.slice(0, 60)}…` : after}" is not an audit cursor: pass the \`next\` of the page before (an entry id like 2026-12-02T14:30:29.123Z#0123456789abcdef)`);
  }
  return after;
}

const ACTIONS: ReadonlySet<string> = new Set(AUDIT_ACTIONS);
const REQUIRED = ['actor', 'change', 'component', 'env'] as const;
const OPTIONAL = ['commit', 'result', 'execution'] as const;

/**
 * The entry as it is stored: `at` rewritten in Date.toISOString's form (any ISO 8601 time with a zone is
 * accepted), absent optional fields left out, and a diff too large to keep trimmed to each change's path and
 * kind (with a last element saying so). Anything else wrong is a UsageError naming the field: an audit log that
 * accepted a malformed entry could not be trusted to be read back.
 */
export function checkAuditEntry(entry: NewAuditEntry): NewAuditEntry {
  const bad = (field: string, what: string): UsageError => new UsageError(`audit entry: ${field} ${what}`);
  if (typeof entry.at !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(entry.at) || Number.isNaN(Date.parse(entry.at))) {
    throw bad('at', `must be an ISO 8601 time with a zone (2026-12-02T14:30:29.123Z), got ${JSON.stringify(entry.at)}`);
  }
  if (!ACTIONS.has(entry.action)) throw bad('action', `must be one of ${AUDIT_ACTIONS.join(', ')}, got ${JSON.stringify(entry.action)}`);
  for (const field of REQUIRED) {
    const value: unknown = entry[field];
    if (typeof value !== 'string' || value.trim() === '') throw bad(field, 'must be a non-empty string');
  }
  for (const field of OPTIONAL) {
    const value: unknown = entry[field];
    if (value !== undefined && typeof value !== 'string') throw bad(field, 'must be a string when given');
  }
  if (entry.diff !== undefined && !Array.isArray(entry.diff)) throw bad('diff', 'must be an array when given');
  const stored: NewAuditEntry = {
    at: new Date(entry.at).toISOString(),
    actor: entry.actor,
    action: entry.action as AuditAction,
    change: entry.change,
    component: entry.component,
    env: entry.env,
    ...(entry.commit !== undefined ? { commit: entry.commit } : {}),
    ...(entry.diff !== undefined ? { diff: entry.diff } : {}),
    ...(entry.result !== undefined ? { result: entry.result } : {}),
    ...(entry.execution !== undefined ? { execution: entry.execution } : {}),
  };
  return fitted(stored);
}

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** A change of lib/core/inputs-diff.ts without its values: `{path, kind}`; anything else in a diff: its type. */
function slim(change: unknown): unknown {
  if (change !== null && typeof change === 'object' && !Array.isArray(change)) {
    const c = change as Record<string, unknown>;
    return { ...(typeof c['path'] === 'string' ? { path: c['path'] } : {}), ...(typeof c['kind'] === 'string' ? { kind: c['kind'] } : {}) };
  }
  return typeof change;
}

function fitted(entry: NewAuditEntry): NewAuditEntry {
  const size = bytes(entry);
  if (size <= MAX_AUDIT_ENTRY_BYTES) return entry;
  if (entry.diff) {
    const trimmed: NewAuditEntry = {
      ...entry,
      diff: [...entry.diff.map(slim), { truncated: true, reason: `the diff's values were left out: the entry was ${size} bytes, over the ${MAX_AUDIT_ENTRY_BYTES} an audit entry keeps` }],
    };
    if (bytes(trimmed) <= MAX_AUDIT_ENTRY_BYTES) return trimmed;
  }
  throw new UsageError(`audit entry: ${size} bytes, over the ${MAX_AUDIT_ENTRY_BYTES} an audit entry keeps${entry.diff ? " even with the diff's values left out" : ''}`);
}
