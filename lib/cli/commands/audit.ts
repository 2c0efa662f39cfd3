/**
 * `karma audit [--change ID] [--limit N] [--after CURSOR]`: the audit log (docs/audit.md), newest first, one
 * page at a time. `--json` prints exactly what `GET /audit` returns: `{"entries":[...],"next":CURSOR|null}`.
 *
 * A local store that does not exist yet holds no entries: an empty page, nothing created (as `karma lock list`).
 * The aws backend without an audit table is exit 2 saying what to set.
 */
import { existsSync } from 'node:fs';
import { auditPage, type AuditPage } from '../../app/audit.ts';
import { localDatabasePath } from '../../app/backend.ts';
import type { Config } from '../../core/model.ts';
import { table } from '../../core/table.ts';
import type { AuditEntry } from '../../ports.ts';
import { baseDir, withBackend, withConfig, type CommonOptions } from '../context.ts';
import { palette, type IO } from '../io.ts';

export interface AuditOptions extends CommonOptions {
  readonly change?: string;
  readonly limit?: number;
  readonly after?: string;
}

/** Whether there is a store to read: a local store that does not exist yet holds no entries. */
function hasStore(config: Config, options: CommonOptions): boolean {
  const type = options.backend ?? config.project.backend.type;
  return type !== 'local' || existsSync(localDatabasePath(config, { baseDir: baseDir(options), ...(options.store ? { localPath: options.store } : {}) }));
}

/** A table cell from a value someone else wrote (an API caller's actor, a result): one line, no terminal controls. */
function cell(s: string | undefined): string {
  if (s === undefined || s === '') return '-';
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim() || '-';
}

/** A word the shell reads back as it is: single-quoted unless it is plain. */
export const shellWord = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

const RESULT_COLOUR: Partial<Record<AuditEntry['action'], 'green' | 'red' | 'yellow'>> = {
  'change.applied': 'green',
  'change.apply-failed': 'red',
  'change.rejected': 'yellow',
};

export async function auditCommand(options: AuditOptions, io: IO): Promise<number> {
  const config = await withConfig(options);
  const query = {
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(options.after !== undefined ? { after: options.after } : {}),
    ...(options.change !== undefined ? { change: options.change } : {}),
  };
  const page: AuditPage = hasStore(config, options)
    ? await withBackend(config, options, { create: false, io }, (backend) => auditPage(backend.audit, query))
    : await auditPage(undefined, query); // no store yet: no entries (the options are checked all the same)
  if (options.json) {
    io.out(JSON.stringify(page));
    return 0;
  }
  // The same command, the next page: every option that chose the log or the page, the cursor last.
  const chose = [
    ...(options.config !== undefined ? [`-c ${shellWord(options.config)}`] : []),
    ...(options.ref !== undefined ? [`--ref ${shellWord(options.ref)}`] : []),
    ...(options.backend !== undefined ? [`--backend ${options.backend}`] : []),
    ...(options.store !== undefined ? [`--store ${shellWord(options.store)}`] : []),
  ];
  printAuditPage(io, page, options, ['karma audit', ...chose]);
  return 0;
}

/**
 * One page of the audit log as `karma audit` prints it (also for GET /audit's answer, with --api), then the
 * command for the next page: `again` (the command and the options that chose the log), the page's options, the
 * cursor.
 */
export function printAuditPage(io: IO, page: AuditPage, options: Pick<AuditOptions, 'change' | 'limit' | 'after'>, again: readonly string[]): void {
  if (page.entries.length === 0) {
    io.out(options.change !== undefined ? `no audit entries for change ${options.change}${options.after ? ' after that cursor' : ''}` : `no audit entries${options.after ? ' after that cursor' : ''}`);
    return;
  }
  const p = palette(io);
  io.out(
    table(
      ['AT', 'ACTOR', 'ACTION', 'CHANGE', 'ENV/COMPONENT', 'RESULT'],
      page.entries.map((e) => {
        const colour = RESULT_COLOUR[e.action];
        const action = colour ? p[colour](e.action) : e.action;
        return [e.at, cell(e.actor), action, cell(e.change), `${cell(e.env)}/${cell(e.component)}`, cell(e.result)];
      }),
    ),
  );
  if (page.next !== null) {
    const next = [
      ...again,
      ...(options.change !== undefined ? [`--change ${shellWord(options.change)}`] : []),
      ...(options.limit !== undefined ? [`--limit ${options.limit}`] : []),
      `--after ${shellWord(page.next)}`,
    ];
    io.out(`more: ${next.join(' ')}`);
  }
}
