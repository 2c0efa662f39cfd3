/**
 * `karma audit` (lib/cli/commands/audit.ts) on the local store, in process: the table, pages followed through the
 * cursor the command prints, the change filter, `--json` as auditPage returns it, a store that does not exist yet,
 * bad options as one line with exit 2, and values written by others printed without terminal controls.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../../lib/app/backend.ts';
import { auditPage } from '../../../lib/app/audit.ts';
import type { AuditEntry } from '../../../lib/ports.ts';
import { entryAt } from '../../support/audit-contract.ts';
import { karma, onlyJson } from '../../support/cli.ts';
import { makeRepo, makeTempDir, removeDir } from '../../helpers/config-repo.ts';

let tmp: string;
let repo: string;
const entries: AuditEntry[] = [];

beforeAll(async () => {
  tmp = makeTempDir('karma-audit-cli-');
  repo = makeRepo(tmp);
  const backend = openLocalBackend(join(repo, '.karma', 'karma.db'), { create: true });
  try {
    entries.push(await backend.audit.append(entryAt(1, 'p-1', { result: 'proposal recorded', diff: [{ path: 'size', kind: 'added', after: 'large' }] })));
    entries.push(await backend.audit.append(entryAt(2, 'p-2', { actor: 'bot', component: 'network', result: 'proposal recorded' })));
    entries.push(await backend.audit.append(entryAt(3, 'p-1', { action: 'change.apply-started', execution: 'exec-1' })));
    entries.push(await backend.audit.append(entryAt(4, 'p-1', { action: 'change.applied', result: 'applied: 1 component' })));
  } finally {
    await backend.close();
  }
});
afterAll(() => removeDir(tmp));

describe('karma audit', () => {
  it('prints the newest page as a table: AT, ACTOR, ACTION, CHANGE, ENV/COMPONENT, RESULT', async () => {
    const run = await karma('audit', '-c', repo);
    expect(run).toEqual({
      code: 0,
      stderr: [],
      stdout: [
        [
          'AT                        ACTOR         ACTION                CHANGE  ENV/COMPONENT      RESULT',
          '2026-12-02T10:00:04.000Z  alice@laptop  change.applied        p-1     karma-dev/app      applied: 1 component',
          '2026-12-02T10:00:03.000Z  alice@laptop  change.apply-started  p-1     karma-dev/app      -',
          '2026-12-02T10:00:02.000Z  bot           change.requested      p-2     karma-dev/network  proposal recorded',
          '2026-12-02T10:00:01.000Z  alice@laptop  change.requested      p-1     karma-dev/app      proposal recorded',
        ].join('\n'),
      ],
    });
  });

  it('pages: --limit N, then the `more:` line, whose cursor gives the next page; the last page has none', async () => {
    // Act
    const first = await karma('audit', '-c', repo, '--limit', '3');
    const more = /^more: karma audit -c (\S+) --limit 3 --after '([^']+)'$/.exec(first.stdout[1] ?? '');
    const second = await karma('audit', '-c', more?.[1] ?? 'missing', '--limit', '3', '--after', more?.[2] ?? 'missing');

    // Assess
    expect(first.code).toBe(0);
    expect(first.stdout[0]!.split('\n')).toHaveLength(4);
    expect(more?.[1]).toBe(repo);
    expect(more?.[2]).toBe(entries[1]!.id);
    expect(second.code).toBe(0);
    expect(second.stdout).toHaveLength(1); // the table, no `more:`
    expect(second.stdout[0]!.split('\n').slice(1)).toEqual([
      '2026-12-02T10:00:01.000Z  alice@laptop  change.requested  p-1     karma-dev/app  proposal recorded',
    ]);
  });

  it("--change: only that change's entries; none: says so", async () => {
    const run = await karma('audit', '-c', repo, '--change', 'p-2');
    expect(run.stdout[0]!.split('\n').slice(1)).toEqual(['2026-12-02T10:00:02.000Z  bot    change.requested  p-2     karma-dev/network  proposal recorded']);
    expect(await karma('audit', '-c', repo, '--change', 'p-9')).toEqual({ code: 0, stdout: ['no audit entries for change p-9'], stderr: [] });
  });

  it('--json prints what auditPage returns (GET /audit), every field, next null on the last page', async () => {
    // Prepare
    const backend = openLocalBackend(join(repo, '.karma', 'karma.db'), { create: false });
    const expected = await auditPage(backend.audit, { limit: 2, change: 'p-1' });
    await backend.close();

    // Act
    const page = onlyJson(await karma('audit', '-c', repo, '--limit', '2', '--change', 'p-1', '--json'));
    const last = onlyJson(await karma('audit', '-c', repo, '--change', 'p-1', '--json'));

    // Assess
    expect(page).toEqual(expected);
    expect(page).toEqual({ entries: [entries[3], entries[2]], next: entries[2]!.id });
    expect(last).toEqual({ entries: [entries[3], entries[2], entries[0]], next: null });
    expect((last as { entries: AuditEntry[] }).entries[2]!.diff).toEqual([{ path: 'size', kind: 'added', after: 'large' }]);
  });

  it('a local store that does not exist yet: no entries, and nothing created', async () => {
    const fresh = makeRepo(makeTempDir('karma-audit-cli-'));
    try {
      expect(await karma('audit', '-c', fresh)).toEqual({ code: 0, stdout: ['no audit entries'], stderr: [] });
      expect(onlyJson(await karma('audit', '-c', fresh, '--json'))).toEqual({ entries: [], next: null });
      expect(existsSync(join(fresh, '.karma'))).toBe(false);
    } finally {
      removeDir(join(fresh, '..'));
    }
  });

  it('refuses a bad limit or cursor with one line and exit 2, with or without a store', async () => {
    expect(await karma('audit', '-c', repo, '--limit', '201')).toEqual({ code: 2, stdout: [], stderr: ['karma: an audit page holds 1 to 200 entries: limit 201 is out of range'] });
    expect((await karma('audit', '-c', repo, '--limit', '0')).stderr).toEqual([
      "karma: option '-n, --limit <n>' argument '0' is invalid. It must be a positive integer (1, 2, 3...).",
    ]);
    const bad = await karma('audit', '-c', repo, '--after', 'page-2', '--json');
    expect(bad.code).toBe(2);
    expect(onlyJson(bad)).toEqual({
      error: {
        name: 'UsageError',
        exitCode: 2,
        message: '"page-2" is not an audit cursor: pass the `next` of the page before (an entry id like 2026-12-02T14:30:29.123Z#0123456789abcdef)',
      },
    });
    const fresh = makeRepo(makeTempDir('karma-audit-cli-'));
    try {
      expect((await karma('audit', '-c', fresh, '--limit', '201')).code).toBe(2);
    } finally {
      removeDir(join(fresh, '..'));
    }
  });

  it('prints what others wrote (an actor, a result) on one line, without terminal control sequences', async () => {
    // Prepare
    const dir = makeRepo(makeTempDir('karma-audit-cli-'));
    const backend = openLocalBackend(join(dir, '.karma', 'karma.db'), { create: true });
    await backend.audit.append(entryAt(1, 'p-1', { actor: 'eve\u001b]0;owned\u0007', result: 'line one\nline two\u001b[2J' }));
    await backend.close();
    try {
      // Act
      const run = await karma('audit', '-c', dir);

      // Assess
      expect(run.code).toBe(0);
      expect(run.stdout[0]).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/); // eslint-disable-line no-control-regex
      expect(run.stdout[0]!.split('\n')[1]).toBe('2026-12-02T10:00:01.000Z  eve ]0;owned  change.requested  p-1     karma-dev/app  line one line two [2J');
    } finally {
      removeDir(join(dir, '..'));
    }
  });
});
