/**
 * The change use cases (lib/app/changes.ts) as an API route or the service calls them: a request from an
 * inputs object (not a file), the audit entries each step appends, the statuses derived from them, and one
 * apply of a saved plan with a real terraform on `karma init`'s offline scaffold (terraform_data only).
 * The CLI's own behaviour over the same functions is test/unit/app/change.test.ts and test/e2e/change-workflow.test.ts.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend } from '../../../lib/app/backend.ts';
import { applyChange, changeStatus, checkApply, getChange, listChanges, requestChange, CLOSED_UNAPPLIED, type ChangeContext } from '../../../lib/app/changes.ts';
import { LocalGitRepository } from '../../../lib/adapters/git/repository.ts';
import { ConflictError, NotFoundError, UsageError } from '../../../lib/core/errors.ts';
import { scaffold } from '../../../lib/cli/commands/init.ts';
import type { AuditEntry, AuditLog } from '../../../lib/ports.ts';
import { copyRepo, makeTempDir, removeDir } from '../../helpers/config-repo.ts';
import { ensureTerraform } from '../../helpers/terraform.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'acme-platform');
const AUTHOR = { name: 'Test', email: 'test@example.com', timestamp: 1_764_000_000, timezoneOffset: 0 };
const NETWORK = 'environments/karma-dev/network.json';

/** An audit log in memory, with the port's contract: ids sort by time, newest first, pages with `next`. */
class MemoryAuditLog implements AuditLog {
  readonly description = 'audit log in memory';
  readonly entries: AuditEntry[] = [];
  async append(entry: Omit<AuditEntry, 'id'>): Promise<AuditEntry> {
    const full = { ...entry, id: `${entry.at}#${String(this.entries.length).padStart(6, '0')}` };
    this.entries.push(full);
    return full;
  }
  async list(options: { readonly limit: number; readonly after?: string; readonly change?: string }): Promise<{ entries: AuditEntry[]; next?: string }> {
    const all = this.entries.filter((e) => options.change === undefined || e.change === options.change).sort((a, b) => b.id.localeCompare(a.id));
    const from = options.after === undefined ? 0 : all.findIndex((e) => e.id === options.after) + 1;
    const entries = all.slice(from, from + options.limit);
    return from + options.limit < all.length ? { entries, next: entries.at(-1)!.id } : { entries };
  }
}

let tmp: string;
let counter = 0;
beforeAll(() => {
  tmp = makeTempDir('karma-changes-');
});
afterAll(() => removeDir(tmp));

async function commitAll(dir: string): Promise<void> {
  await git.init({ fs, dir, defaultBranch: 'main' });
  await git.setConfig({ fs, dir, path: 'user.name', value: 'Test' });
  await git.setConfig({ fs, dir, path: 'user.email', value: 'test@example.com' });
  await git.add({ fs, dir, filepath: '.' });
  await git.commit({ fs, dir, message: 'initial', author: AUTHOR });
}

/** A Git copy of the example (everything committed on main) and a context over it with an audit log in memory. */
async function exampleContext(extra: Partial<ChangeContext> = {}): Promise<{ dir: string; ctx: ChangeContext; log: MemoryAuditLog }> {
  const dir = copyRepo(EXAMPLE, tmp, `repo-${++counter}`);
  await commitAll(dir);
  return { dir, ...contextFor(dir, extra) };
}

function contextFor(dir: string, extra: Partial<ChangeContext> = {}): { ctx: ChangeContext; log: MemoryAuditLog } {
  const log = new MemoryAuditLog();
  let tick = 0;
  const ctx: ChangeContext = {
    repo: new LocalGitRepository(dir),
    withBackend: async (config, work) => {
      const backend = await openBackend(config, { baseDir: dir, create: true });
      try {
        return await work(backend);
      } finally {
        await backend.close();
      }
    },
    audit: () => log,
    places: { baseDir: dir },
    actor: 'alice@test',
    // Each entry a second apart, so the order of the log is the order of the steps.
    clock: { now: () => new Date(Date.UTC(2026, 11, 2, 12, 0, tick++)) },
    ...extra,
  };
  return { ctx, log };
}

describe('requestChange with an inputs object (the API)', () => {
  it('records the proposal and one change.requested entry: who, the change, the commit, the diff, no plan', async () => {
    // Prepare
    const { dir, ctx, log } = await exampleContext();
    const head = await git.resolveRef({ fs, dir, ref: 'HEAD' });
    // Act
    const out = await requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: { cidr: '10.10.0.0/16', az_count: 3 }, message: 'three AZs', plan: false });
    // Assess
    expect(out).toMatchObject({ id: expect.stringMatching(/^p-[0-9a-f]{8}$/), base: head, file: NETWORK, message: 'three AZs', plan: null });
    expect(out.diff).toEqual([{ path: 'az_count', kind: 'changed', before: 2, after: 3 }]);
    expect(await git.resolveRef({ fs, dir, ref: `karma/proposals/${out.id!}` })).toBe(out.commit);
    expect(log.entries).toEqual([
      {
        id: expect.any(String),
        at: '2026-12-02T12:00:00.000Z',
        actor: 'alice@test',
        action: 'change.requested',
        change: out.id,
        component: 'network',
        env: 'karma-dev',
        commit: out.commit,
        diff: out.diff,
        result: 'no plan',
      },
    ]);
  });

  it('without terraform the plan is skipped, said in the result and the audit line', async () => {
    const { ctx, log } = await exampleContext({ terraform: join(tmp, 'no-such-terraform') });
    const out = await requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: { cidr: '10.10.0.0/16', az_count: 4 } });
    expect(out.plan).toEqual({ status: 'skipped', reason: expect.stringMatching(/^no plan made: .*; once it is installed, karma plan p-[0-9a-f]{8} makes one$/) });
    expect(log.entries.map((e) => [e.action, e.result])).toEqual([['change.requested', 'no plan']]);
  });

  it.each([
    ['a key that cannot be an input name', { cidr: '10.0.0.0/16', 'root:x:0:0': 1 }, "input: not the component's inputs: 1 top-level key is not a valid input name (a Terraform variable name: a letter or _, then letters, digits, _ or -); the content is not shown"],
    ['a list', [1, 2], "input: the inputs must be an object of input names to values (the component's full inputs), got a list"],
    ['nothing', null, "input: the inputs must be an object of input names to values (the component's full inputs), got nothing"],
  ])('%s is a UsageError naming `input`, and nothing is recorded', async (_what, inputs, message) => {
    // Prepare
    const { dir, ctx, log } = await exampleContext();
    // Act
    const request = requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: inputs as Record<string, unknown>, plan: false });
    // Assess
    await expect(request).rejects.toThrow(new UsageError(message));
    expect(await git.listBranches({ fs, dir })).toEqual(['main']);
    expect(log.entries).toEqual([]);
  });

  it('inputs equal to the current ones are `no change` (named by the label given), nothing recorded', async () => {
    const { ctx, log } = await exampleContext();
    const request = requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: { az_count: 2, cidr: '10.10.0.0/16' }, label: 'body.input', plan: false });
    await expect(request).rejects.toThrow(UsageError);
    await expect(request).rejects.toThrow(/^no change: body\.input holds the same inputs as environments\/karma-dev\/network\.json at [0-9a-f]{8}; nothing to propose$/);
    expect(log.entries).toEqual([]);
  });

  it('schema problems are reported against the env file as it would be written', async () => {
    const { ctx } = await exampleContext();
    await expect(requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: { cidr: '10.10.0.0/16', az_count: 9 }, plan: false })).rejects.toThrow(
      /environments\/karma-dev\/network\.json:3: az_count: must be <= 6/,
    );
  });

  it('a dry run records nothing and writes no audit entry', async () => {
    const { dir, ctx, log } = await exampleContext();
    const out = await requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: { cidr: '10.10.0.0/16', az_count: 3 }, dryRun: true });
    expect(out.id).toBeUndefined();
    expect(out.plan).toBeNull();
    expect(await git.listBranches({ fs, dir })).toEqual(['main']);
    expect(log.entries).toEqual([]);
  });
});

describe('change statuses', () => {
  const entry = (action: AuditEntry['action'], result?: string): AuditEntry => ({
    id: action,
    at: '2026-12-02T12:00:00.000Z',
    actor: 'a',
    action,
    change: 'p-00000000',
    component: 'c',
    env: 'e',
    ...(result ? { result } : {}),
  });
  it.each([
    ['no entries, open', [], true, { status: 'proposed' }],
    ['requested, open', ['change.requested'], true, { status: 'proposed' }],
    ['requested, branch deleted', ['change.requested'], false, { status: 'rejected', reason: CLOSED_UNAPPLIED }],
    ['queued', ['change.requested', 'change.apply-queued'], true, { status: 'queued' }],
    ['applying', ['change.requested', 'change.apply-started'], true, { status: 'applying' }],
    ['applied', ['change.requested', 'change.apply-started', 'change.applied'], false, { status: 'succeeded' }],
    ['failed', ['change.requested', 'change.apply-started', 'change.apply-failed'], true, { status: 'failed', reason: 'why' }],
    ['rejected', ['change.requested', 'change.rejected'], true, { status: 'rejected', reason: 'why' }],
    ['rejected, then applied', ['change.requested', 'change.rejected', 'change.apply-started', 'change.applied'], false, { status: 'succeeded' }],
    ['failed, then requested again (same id)', ['change.requested', 'change.apply-failed', 'change.requested'], true, { status: 'failed', reason: 'why' }],
  ] as const)('%s', (_what, actions, open, expected) => {
    const history = actions.map((a) => entry(a, a === 'change.apply-failed' || a === 'change.rejected' ? 'why' : undefined));
    expect(changeStatus(history, open)).toEqual(expected);
  });
});

describe('listChanges and getChange', () => {
  it('a change moves with its audit entries; closed ones come from the log; newest first; limit', async () => {
    // Prepare: two requests, then the first one's apply fails, then it is closed and applied by hand
    const { dir, ctx, log } = await exampleContext();
    const first = await requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: { cidr: '10.10.0.0/16', az_count: 3 }, plan: false });
    const second = await requestChange(ctx, { component: 'queue', env: 'karma-dev', inputs: { visibility_timeout: 120, max_receive_count: 5 }, plan: false });
    const base = { actor: 'bob@test', change: first.id!, component: 'network', env: 'karma-dev', commit: first.commit! };
    // Act + Assess: proposed
    expect(await getChange(ctx, first.id!)).toEqual({
      id: first.id,
      status: 'proposed',
      component: 'network',
      env: 'karma-dev',
      message: 'change network in karma-dev',
      base: first.base,
      commit: first.commit,
      createdAt: expect.any(String),
      open: true,
      plan: null,
      history: [log.entries[0]],
    });
    await log.append({ ...base, at: '2026-12-02T13:00:00.000Z', action: 'change.apply-started' });
    expect((await getChange(ctx, `karma/proposals/${first.id!}`)).status).toBe('applying');
    await log.append({ ...base, at: '2026-12-02T13:00:01.000Z', action: 'change.apply-failed', result: "the saved plan's apply failed: boom" });
    expect(await getChange(ctx, first.id!)).toMatchObject({ status: 'failed', reason: "the saved plan's apply failed: boom", open: true });
    // The branch goes (as a merge deletes it): the change is still known, from the log, its commit still readable.
    await git.deleteBranch({ fs, dir, ref: `karma/proposals/${first.id!}` });
    await log.append({ ...base, at: '2026-12-02T13:00:02.000Z', action: 'change.applied', result: 'applied and merged; pipeline succeeded' });
    const closed = await getChange(ctx, first.id!);
    expect(closed).toMatchObject({ status: 'succeeded', open: false, message: 'change network in karma-dev', base: first.base, commit: first.commit, plan: null });
    expect(closed.history.map((e) => e.action)).toEqual(['change.requested', 'change.apply-started', 'change.apply-failed', 'change.applied']);
    expect(closed.reason).toBeUndefined();

    const { changes } = await listChanges(ctx);
    expect(Object.fromEntries(changes.map((c) => [c.id, c.status]))).toEqual({ [second.id!]: 'proposed', [first.id!]: 'succeeded' });
    // Newest first: by creation time (the proposal's commit, to the second), then by id.
    const order = changes.map((c) => `${c.createdAt} ${c.id}`);
    expect(order).toEqual([...order].sort().reverse());
    expect(changes.find((c) => c.id === first.id)!.history).toEqual(closed.history);
    expect((await listChanges(ctx, { limit: 1 })).changes).toHaveLength(1);
    await expect(listChanges(ctx, { limit: 0 })).rejects.toThrow(new UsageError('limit must be an integer from 1 to 500, got 0'));
  });

  it('an unknown or malformed id is a NotFoundError (kind change) listing the open proposals', async () => {
    const { ctx } = await exampleContext();
    const open = await requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: { cidr: '10.10.0.0/16', az_count: 3 }, plan: false });
    for (const id of ['p-00000000', '../../HEAD', 'karma/proposals/nope']) {
      const error = await getChange(ctx, id).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error).toMatchObject({ kind: 'change', value: id, known: [open.id], message: `unknown change "${id}"; open proposals: ${open.id!} (karma proposals lists them)` });
    }
  });

  it('without an audit log the open proposals are the changes, and nothing is recorded', async () => {
    const { ctx } = await exampleContext({ audit: undefined });
    const { audit: _none, ...noAudit } = ctx;
    const out = await requestChange(noAudit, { component: 'network', env: 'karma-dev', inputs: { cidr: '10.10.0.0/16', az_count: 3 }, plan: false });
    expect(await listChanges(noAudit)).toEqual({ changes: [expect.objectContaining({ id: out.id, status: 'proposed', history: [] })] });
  });
});

describe('applyChange', () => {
  it('a refusal before anything changed (no saved plan) throws as before and is recorded change.rejected', async () => {
    // Prepare
    const { ctx, log } = await exampleContext();
    const out = await requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: { cidr: '10.10.0.0/16', az_count: 3 }, plan: false });
    // Act
    const applied = applyChange(ctx, out.id!);
    // Assess
    const message = `proposal ${out.id!} has no saved plan (made with --no-plan, without terraform, or its plan failed); make one with karma plan ${out.id!}, review it, then apply`;
    await expect(applied).rejects.toThrow(new UsageError(message));
    expect(log.entries.map((e) => [e.action, e.result])).toEqual([
      ['change.requested', 'no plan'],
      ['change.rejected', message],
    ]);
    expect(await getChange(ctx, out.id!)).toMatchObject({ status: 'rejected', reason: message, open: true });
  });

  it('a merge that would be refused is recorded change.rejected; an unknown proposal is not a change', async () => {
    const { dir, ctx, log } = await exampleContext();
    const out = await requestChange(ctx, { component: 'network', env: 'karma-dev', inputs: { cidr: '10.10.0.0/16', az_count: 3 }, plan: false });
    fs.writeFileSync(join(dir, NETWORK), '{"cidr": "10.10.0.0/16", "az_count": 5}\n');
    await expect(checkApply(ctx, out.id!)).rejects.toThrow(ConflictError);
    expect(log.entries.at(-1)).toMatchObject({ action: 'change.rejected', change: out.id, result: expect.stringMatching(/has uncommitted changes in the working tree/) });
    await expect(applyChange(ctx, 'p-00000000')).rejects.toThrow(`no open proposal "p-00000000"; open proposals: ${out.id!} (karma proposals lists them)`);
    expect(log.entries).toHaveLength(2);
  });

  it('with a real terraform: requested with the plan line, applied, merged, the pipeline run; succeeded', { timeout: 120_000 }, async () => {
    // Prepare: `karma init`'s scaffold (terraform_data only: offline), committed
    const dir = join(tmp, `init-${++counter}`);
    for (const [path, text] of scaffold('changes', 'dev')) {
      fs.mkdirSync(join(dir, path, '..'), { recursive: true });
      fs.writeFileSync(join(dir, path), text);
    }
    await commitAll(dir);
    const { ctx, log } = contextFor(dir, { terraform: ensureTerraform() });
    // Act
    const requested = await requestChange(ctx, { component: 'hello', env: 'dev', inputs: { greeting: 'hi dev' } });
    const steps: string[] = [];
    const applied = await applyChange(ctx, requested.id!, { onApplied: ({ merged }) => steps.push(`merged ${merged.how}`) });
    // Assess
    expect(requested.plan).toMatchObject({ status: 'planned', add: 1, line: 'Plan: 1 to add, 0 to change, 0 to destroy.' });
    expect(steps).toEqual(['merged fast-forward']);
    expect(applied.component).toMatchObject({ env: 'dev', component: 'hello', outcome: 'applied' });
    expect(applied.merged).toMatchObject({ into: 'main', how: 'fast-forward', commit: requested.commit });
    expect(applied.pipeline).toMatchObject({ status: 'SUCCEEDED', executionId: expect.any(String) });
    expect(Object.keys(applied)).toEqual(['merged', 'component', 'pipeline']);
    expect(log.entries.map((e) => [e.action, e.commit, e.result])).toEqual([
      ['change.requested', requested.commit, 'Plan: 1 to add, 0 to change, 0 to destroy.'],
      ['change.apply-started', requested.commit, undefined],
      ['change.applied', requested.commit, expect.stringMatching(/^applied and merged; pipeline succeeded/)],
    ]);
    expect(log.entries[2]!.execution).toBe(applied.pipeline!.executionId);
    expect(await getChange(ctx, requested.id!)).toMatchObject({ status: 'succeeded', open: false, plan: null });
  });
});
