/**
 * lib/app/audit.ts: one page of the log as GET /audit and `karma audit --json` return it (bounds, default, `next`
 * as null), the CLI's actor, the aws backend's log without a table, and where the aws backend finds its table
 * (KARMA_AUDIT_TABLE over karma.yaml backend.auditTable, which the config schema checks).
 */
import { describe, expect, it } from 'vitest';
import { DirectorySource } from '../../../lib/adapters/fs/directory-source.ts';
import { loadConfig } from '../../../lib/app/build.ts';
import { actorOf, auditPage, requireAuditLog, UnrecordedAuditLog, AUDIT_PAGE_DEFAULT } from '../../../lib/app/audit.ts';
import { awsBackendSettings } from '../../../lib/app/aws-backend.ts';
import { ConfigError, UsageError } from '../../../lib/core/errors.ts';
import type { AuditEntry } from '../../../lib/ports.ts';
import { entryAt } from '../../support/audit-contract.ts';
import { InMemoryAuditLog } from '../../support/memory-stores.ts';
import { makeRepo, makeTempDir, removeDir } from '../../helpers/config-repo.ts';

async function logWith(n: number): Promise<{ log: InMemoryAuditLog; ids: string[] }> {
  const log = new InMemoryAuditLog();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.unshift((await log.append({ ...entryAt(0), at: new Date(Date.UTC(2026, 11, 2, 10, 0, i)).toISOString() })).id);
  return { log, ids };
}

describe('auditPage', () => {
  it('pages 50 by default, with next as null on the last page (the JSON of GET /audit)', async () => {
    // Prepare
    const { log, ids } = await logWith(AUDIT_PAGE_DEFAULT + 1);

    // Act
    const first = await auditPage(log);
    const last = await auditPage(log, { after: first.next! });

    // Assess
    expect(first.entries.map((e) => e.id)).toEqual(ids.slice(0, 50));
    expect(first.next).toBe(ids[49]);
    expect(last).toEqual({ entries: [expect.objectContaining({ id: ids[50] }) as AuditEntry], next: null });
    expect(JSON.parse(JSON.stringify(last))).toHaveProperty('next', null); // present in the JSON, not dropped
  });

  it('takes 1 to 200 entries a page and refuses anything else, an empty change, a malformed cursor', async () => {
    const { log } = await logWith(201);
    expect((await auditPage(log, { limit: 200 })).entries).toHaveLength(200);
    expect((await auditPage(log, { limit: 1 })).entries).toHaveLength(1);
    for (const limit of [0, 201, 2.5, -1, Number.NaN]) {
      await expect(auditPage(log, { limit })).rejects.toThrow(new UsageError(`an audit page holds 1 to 200 entries: limit ${limit} is out of range`));
    }
    await expect(auditPage(log, { change: ' ' })).rejects.toThrow('the change to filter the audit log by is empty: give a change id');
    await expect(auditPage(log, { after: '2026-12-02T10:00:00Z#00' })).rejects.toBeInstanceOf(UsageError);
  });

  it('without a log (no local store yet): an empty page, the options still checked', async () => {
    expect(await auditPage(undefined, { limit: 5, change: 'c' })).toEqual({ entries: [], next: null });
    await expect(auditPage(undefined, { limit: 500 })).rejects.toBeInstanceOf(UsageError);
    await expect(auditPage(undefined, { after: 'nope' })).rejects.toThrow(/"nope" is not an audit cursor/);
  });
});

describe('actorOf', () => {
  it('is user@host', () => {
    expect(actorOf({ user: () => 'alice', host: () => 'laptop' })).toBe('alice@laptop');
  });

  it('falls back to $USER, then $LOGNAME, when the uid has no password entry (os.userInfo throws)', () => {
    const noEntry = (): string => {
      throw new Error('ENOENT: no such file or directory, uv_os_get_passwd');
    };
    expect(actorOf({ user: noEntry, host: () => 'ci-runner', env: { USER: 'bob', LOGNAME: 'robert' } })).toBe('bob@ci-runner');
    expect(actorOf({ user: noEntry, host: () => 'ci-runner', env: { LOGNAME: 'robert' } })).toBe('robert@ci-runner');
    expect(actorOf({ user: noEntry, host: () => 'ci-runner', env: {} })).toBe(`uid-${process.getuid!()}@ci-runner`);
  });

  it('reads this machine by default', () => {
    expect(actorOf()).toMatch(/^[^@\s]+@[^@\s]+$/);
  });
});

describe('the aws backend without an audit table', () => {
  it('checks and returns what is appended, keeps nothing, and refuses to be read with what to set', async () => {
    const log = new UnrecordedAuditLog();
    const entry = await log.append({ ...entryAt(1), at: '2026-12-02T11:00:01+01:00' });
    expect(entry).toEqual({ id: expect.stringMatching(/^2026-12-02T10:00:01\.000Z#[0-9a-f]{16}$/) as string, ...entryAt(1) });
    await expect(log.append({ ...entryAt(1), actor: '' })).rejects.toBeInstanceOf(UsageError);
    await expect(log.list()).rejects.toThrow('there is no audit log to read: set KARMA_AUDIT_TABLE or backend.auditTable in karma.yaml to the DynamoDB table (docs/audit.md)');
    expect(log.description).toMatch(/^no audit log \(the aws backend has no audit table: set KARMA_AUDIT_TABLE/);
  });

  it('requireAuditLog refuses it, and passes a real log through', () => {
    const real = new InMemoryAuditLog();
    expect(requireAuditLog(real)).toBe(real);
    expect(() => requireAuditLog(new UnrecordedAuditLog())).toThrow(/^an audit log is required here and none is configured: set KARMA_AUDIT_TABLE/);
  });
});

describe('where the aws backend finds its audit table', () => {
  const neptune = { KARMA_NEPTUNE_ENDPOINT: 'ws://127.0.0.1:8182/gremlin' };

  it('KARMA_AUDIT_TABLE over karma.yaml backend.auditTable; DynamoDB endpoint from AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, backend.endpoint', async () => {
    // Prepare
    const tmp = makeTempDir('karma-audit-config-');
    try {
      const repo = makeRepo(tmp, {
        'karma.yaml': ['project: demo', 'environments:', '  karma-dev:', '    region: eu-west-1', '    account: "222222222222"', 'backend:', '  type: aws', '  endpoint: http://127.0.0.1:5000', '  auditTable: karma-audit', ''].join('\n'),
      });
      const config = await loadConfig(new DirectorySource(repo));
      const settings = (env: Record<string, string>) => awsBackendSettings(config, { baseDir: repo }, { ...neptune, ...env });

      // Act + Assess
      expect(config.project.backend).toMatchObject({ type: 'aws', auditTable: 'karma-audit' });
      expect(settings({})).toMatchObject({ auditTable: 'karma-audit', dynamodbEndpoint: 'http://127.0.0.1:5000' });
      expect(settings({ KARMA_AUDIT_TABLE: 'other-table', AWS_ENDPOINT_URL: 'http://127.0.0.1:5001' })).toMatchObject({ auditTable: 'other-table', dynamodbEndpoint: 'http://127.0.0.1:5001' });
      expect(settings({ AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:5002', AWS_ENDPOINT_URL: 'http://127.0.0.1:5001' }).dynamodbEndpoint).toBe('http://127.0.0.1:5002');
      expect(() => settings({ KARMA_AUDIT_TABLE: 'no spaces allowed' })).toThrow('KARMA_AUDIT_TABLE must be a DynamoDB table name (3 to 255 letters, digits, _ . -), got "no spaces allowed"');
    } finally {
      removeDir(tmp);
    }
  });

  it('no table anywhere: no audit table and no DynamoDB endpoint in the settings', () => {
    const s = awsBackendSettings(undefined, { baseDir: '/repo' }, { ...neptune, AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' });
    expect(s).not.toHaveProperty('auditTable');
    expect(s).not.toHaveProperty('dynamodbEndpoint');
  });

  it('karma.yaml refuses a backend.auditTable DynamoDB would refuse, with its line', async () => {
    const tmp = makeTempDir('karma-audit-config-');
    try {
      const repo = makeRepo(tmp, {
        'karma.yaml': ['project: demo', 'environments:', '  karma-dev:', '    region: eu-west-1', '    account: "222222222222"', 'backend:', '  type: aws', '  auditTable: "a b"', ''].join('\n'),
      });
      const failed = loadConfig(new DirectorySource(repo));
      await expect(failed).rejects.toBeInstanceOf(ConfigError);
      await expect(failed).rejects.toThrow(/karma\.yaml:8: .*must be a DynamoDB table name: 3 to 255 letters, digits, _ \. -/);
    } finally {
      removeDir(tmp);
    }
  });
});
