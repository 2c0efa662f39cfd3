/**
 * The audit log's use cases (docs/audit.md): one page of it, exactly what `GET /audit` and `karma audit --json`
 * return, and who the CLI is when it appends.
 *
 * Writing entries is the change workflow's business (propose, apply); this module only reads, names the actor,
 * and says what the aws backend does without a table: UnrecordedAuditLog keeps nothing and says so when read,
 * and requireAuditLog lets an entry point that must audit (the deployed API) refuse to start without one.
 */
import { hostname, userInfo } from 'node:os';
import { UsageError } from '../core/errors.ts';
import type { AuditEntry, AuditLog } from '../ports.ts';
import { checkAuditCursor, checkAuditEntry, newAuditId, type NewAuditEntry } from '../adapters/audit.ts';

export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 200;

export interface AuditPageOptions {
  /** Entries per page: 1 to 200. @default 50 */
  readonly limit?: number;
  /** The `next` of the page before. */
  readonly after?: string;
  /** Only this change's entries. */
  readonly change?: string;
}

/** One page, newest first; `next` is the cursor of the next page, null on the last one. */
export interface AuditPage {
  readonly entries: AuditEntry[];
  readonly next: string | null;
}

/**
 * One page of the log. A limit outside 1..200, an empty change or a malformed cursor is a UsageError (exit 2,
 * HTTP 400). `log` undefined: there is no log yet (a local store not created): an empty page, the options checked
 * all the same.
 */
export async function auditPage(log: AuditLog | undefined, options: AuditPageOptions = {}): Promise<AuditPage> {
  const limit = options.limit ?? AUDIT_PAGE_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_PAGE_MAX) {
    throw new UsageError(`an audit page holds 1 to ${AUDIT_PAGE_MAX} entries: limit ${limit} is out of range`);
  }
  if (options.change !== undefined && options.change.trim() === '') throw new UsageError('the change to filter the audit log by is empty: give a change id');
  if (!log) {
    checkAuditCursor(options.after);
    return { entries: [], next: null };
  }
  const page = await log.list({ limit, ...(options.after !== undefined ? { after: options.after } : {}), ...(options.change !== undefined ? { change: options.change } : {}) });
  return { entries: page.entries, next: page.next ?? null };
}

/** Where actorOf reads the user and the host (tests pass their own). */
export interface ActorProbe {
  readonly user?: () => string;
  readonly host?: () => string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The CLI's actor: `user@host`, the login name (os.userInfo) and the host name. A process without a password
 * entry for its uid (some containers) has no login name: then $USER, $LOGNAME, else `uid-<uid>`.
 */
export function actorOf(probe: ActorProbe = {}): string {
  const env = probe.env ?? process.env;
  let user: string | undefined;
  try {
    user = (probe.user ?? (() => userInfo().username))();
  } catch {
    user = undefined;
  }
  user = user || env['USER'] || env['LOGNAME'] || `uid-${process.getuid?.() ?? 'unknown'}`;
  let host: string;
  try {
    host = (probe.host ?? hostname)() || 'unknown-host';
  } catch {
    host = 'unknown-host';
  }
  return `${user}@${host}`;
}

/** What to set for an audit table; said by every refusal below. */
export const AUDIT_TABLE_HINT = 'set KARMA_AUDIT_TABLE or backend.auditTable in karma.yaml to the DynamoDB table (docs/audit.md)';

/**
 * The aws backend's audit log when no table is configured: append checks the entry as a real log would and
 * returns it with an id, but keeps nothing; list refuses with what to set. An entry point that must not run
 * without an audit trail (the deployed API) calls requireAuditLog at start-up.
 */
export class UnrecordedAuditLog implements AuditLog {
  readonly description = `no audit log (the aws backend has no audit table: ${AUDIT_TABLE_HINT})`;

  async append(entry: NewAuditEntry): Promise<AuditEntry> {
    const checked = checkAuditEntry(entry);
    return { id: newAuditId(checked.at), ...checked };
  }

  async list(): Promise<{ entries: AuditEntry[]; next?: string }> {
    throw new UsageError(`there is no audit log to read: ${AUDIT_TABLE_HINT}`);
  }
}

/** `log`, unless it keeps nothing (UnrecordedAuditLog): then a UsageError saying what to set. */
export function requireAuditLog(log: AuditLog): AuditLog {
  if (log instanceof UnrecordedAuditLog) throw new UsageError(`an audit log is required here and none is configured: ${AUDIT_TABLE_HINT}`);
  return log;
}
