/**
 * The change workflow end to end, with a real terraform (ensureTerraform: PATH, else built with Go, else a
 * clear failure) and the local backend: `karma apply --env` applies what is committed; `karma propose-change`
 * plans the proposal and saves the plan; `karma apply PROPOSAL` shows it, needs a decision, applies exactly that
 * plan, merges the proposal and runs the pipeline for the dependents whose inputs changed, and nothing else.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { copyRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'acme-platform');
const AUTHOR = { name: 'Test', email: 'test@example.com' };

type Row = { env: string; component: string; result: string; detail: string; plan?: { line: string; resources: { address: string; action: string }[] } };
type ApplyJson = {
  merged: { proposal: { id: string }; commit: string; how: string; files: string[] } | null;
  component?: { outcome: string; component: string };
  pipeline: { status: string; summary: { rows: Row[]; applied: number; failed: number } | null };
};

async function karma(...argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const io = memoryIO();
  const code = await main(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

let tmp: string;
let dir: string;
let terraform: string;
beforeAll(async () => {
  terraform = ensureTerraform();
  tmp = makeTempDir('karma-change-e2e-');
  dir = copyRepo(EXAMPLE, tmp);
  // A resource that is replaced when security-baseline's log_retention_days changes.
  fs.appendFileSync(join(dir, 'modules', 'security-baseline', 'main.tf'), '\nresource "terraform_data" "retention" {\n  triggers_replace = var.log_retention_days\n}\n');
  await git.init({ fs, dir, defaultBranch: 'main' });
  await git.add({ fs, dir, filepath: '.' });
  await git.commit({ fs, dir, message: 'initial', author: AUTHOR });
}, 600_000);
afterAll(() => removeDir(tmp));

const applied = (out: ApplyJson): string[] => (out.pipeline.summary?.rows ?? []).filter((r) => r.result === 'applied').map((r) => r.component).sort();
const head = (): Promise<string> => git.resolveRef({ fs, dir, ref: 'main' });
const branches = (): Promise<string[]> => git.listBranches({ fs, dir });
const planDir = (id: string): string => join(dir, '.karma', 'plans', id);

async function propose(component: string, inputs: Record<string, unknown>, ...extra: string[]): Promise<{ id: string; commit: string; plan: { status: string; line?: string; resources?: { address: string; action: string }[] } }> {
  const input = join(tmp, `${component}.json`);
  fs.writeFileSync(input, JSON.stringify(inputs));
  const r = await karma('propose-change', component, 'karma-dev', '--input', input, '-c', dir, '--terraform', terraform, '--json', ...extra);
  expect(r.stderr).toEqual([]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout[0]!);
}

/** What needs an apply in karma-dev now (karma graph order: pending, stale-inputs, failed, ...). */
async function needsApply(): Promise<string[]> {
  const r = await karma('graph', 'order', '--env', 'karma-dev', '-c', dir, '--json');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout[0]!) as { waves: string[][] }).waves.flat().sort();
}

describe('propose-change, plan, decide, apply exactly that plan (real terraform, local backend)', () => {
  it('apply --env applies the committed config', async () => {
    expect((await karma('runtime', 'put', '/acme/external/datadog-api-key', 'dd-e2e-not-a-real-key', '--type', 'SecureString', '-c', dir)).code).toBe(0);
    const first = await karma('apply', '--env', 'karma-dev', '-c', dir, '--terraform', terraform, '--json');
    expect(first.stderr).toEqual([]);
    const firstOut = JSON.parse(first.stdout[0]!) as ApplyJson;
    expect(first.code).toBe(0);
    expect(firstOut.merged).toBeNull();
    // serverless-site waits for karma-shared's dns-zone, never applied here.
    expect(applied(firstOut)).toEqual(['api-service', 'cache', 'database', 'monitoring', 'network', 'queue', 'security-baseline', 'worker']);
  }, 600_000);

  it('propose-change shows the plan; apply needs a decision, then applies the proposal and its changed dependents, not an unrelated pending component', async () => {
    // An unrelated pending component: queue's inputs changed in a plain commit.
    fs.writeFileSync(join(dir, 'environments', 'karma-dev', 'queue.yaml'), 'visibility_timeout: 90\nmax_receive_count: 5\n');
    await git.add({ fs, dir, filepath: 'environments/karma-dev/queue.yaml' });
    await git.commit({ fs, dir, message: 'queue: longer visibility timeout', author: AUTHOR });
    expect(await needsApply()).toEqual(['queue']);

    const input = join(tmp, 'network.json');
    fs.writeFileSync(input, JSON.stringify({ cidr: '10.10.0.0/16', az_count: 3 }));
    const proposed = await karma('propose-change', 'network', 'karma-dev', '--input', input, '-c', dir, '--terraform', terraform);
    expect(proposed.code).toBe(0);
    const text = proposed.stdout.join('\n');
    expect(text).toContain('Plan: 0 to add, 1 to change, 0 to destroy.');
    expect(text).toMatch(/~ terraform_data\.network \(update\)/);
    const id = /proposal (p-[0-9a-f]+) recorded/.exec(text)![1]!;
    const planFile = join(planDir(id), 'karma-dev', 'network.tfplan');
    expect(fs.statSync(planFile).mode & 0o777).toBe(0o600);

    // No terminal, no --yes: refused before anything changes.
    const before = await head();
    const refused = await karma('apply', id, '-c', dir, '--terraform', terraform);
    expect(refused.code).toBe(2);
    expect(refused.stderr.join('\n')).toMatch(/without a decision.*--yes/);
    expect(refused.stdout.join('\n')).toContain('Plan: 0 to add, 1 to change, 0 to destroy.');
    expect(await head()).toBe(before);
    expect(await branches()).toContain(`karma/proposals/${id}`);
    expect(await needsApply()).toEqual(['queue']);

    const run = await karma('apply', id, '-c', dir, '--terraform', terraform, '--yes', '--json');
    expect(run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout[0]!) as ApplyJson;
    expect(out.component).toMatchObject({ component: 'network', outcome: 'applied' });
    expect(out.merged).toMatchObject({ proposal: { id }, how: 'fast-forward', files: ['environments/karma-dev/network.json'] });
    expect(out.pipeline.status).toBe('SUCCEEDED');
    // network's private_subnet_ids changed: cache and database consume it and follow; the rest stays, queue too.
    expect(applied(out)).toEqual(['cache', 'database']);
    expect(await needsApply()).toEqual(['queue']);
    expect(await branches()).toEqual(['main']);
    expect(fs.existsSync(planDir(id))).toBe(false);
  }, 600_000);

  it('a plan made stale by another apply is refused with the re-plan advice; karma plan re-plans it', async () => {
    const { id, commit, plan } = await propose('network', { cidr: '10.10.0.0/16', az_count: 2 });
    expect(plan).toMatchObject({ status: 'planned', line: 'Plan: 0 to add, 1 to change, 0 to destroy.' });
    // The state changes under the saved plan: the same change applied another way.
    const other = await karma('component', 'apply', 'network', 'karma-dev', '-c', dir, '--ref', commit, '--commit', commit, '--terraform', terraform, '--json');
    expect(other.code).toBe(0);
    const before = await head();
    const stale = await karma('apply', id, '-c', dir, '--terraform', terraform, '--yes');
    expect(stale.code).toBe(2);
    expect(stale.stderr.join('\n')).toMatch(/Saved plan is stale.*karma plan p-/);
    // One error line (the others are progress lines).
    expect(stale.stderr.filter((l) => l.startsWith('karma:'))).toHaveLength(1);
    expect(await head()).toBe(before);
    expect(await branches()).toContain(`karma/proposals/${id}`);
    expect(fs.existsSync(planDir(id))).toBe(false);

    const replanned = await karma('plan', id, '-c', dir, '--terraform', terraform, '--json');
    expect(replanned.code).toBe(0);
    expect(JSON.parse(replanned.stdout[0]!)).toMatchObject({ proposal: id, plan: { status: 'planned', line: 'No changes.' } });
    const ok = await karma('apply', id, '-c', dir, '--terraform', terraform, '--yes', '--json');
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout[0]!) as ApplyJson).component).toMatchObject({ outcome: 'applied' });
  }, 600_000);

  it('at a terminal only "yes" applies; an expired plan is refused and deleted', async () => {
    const { id } = await propose('worker', { ...JSON.parse(fs.readFileSync(join(dir, 'environments', 'karma-dev', 'worker.json'), 'utf8')), concurrency: 6 });
    const asked: string[] = [];
    const terminal = (answer: string) => ({ ...memoryIO(), interactive: true, ask: async (q: string) => (asked.push(q), answer) });
    const io = terminal('y');
    expect(await main(['apply', id, '-c', dir, '--terraform', terraform], io)).toBe(1);
    expect(asked).toEqual([`apply the plan for worker in karma-dev (${id})? Only "yes" is accepted: `]);
    expect(io.stderr.join('\n')).toContain('not applied');
    expect(await branches()).toContain(`karma/proposals/${id}`);
    expect(fs.existsSync(planDir(id))).toBe(true);
    const yes = terminal('yes');
    expect(await main(['apply', id, '-c', dir, '--terraform', terraform], yes)).toBe(0);
    expect(yes.stdout.join('\n')).toMatch(/applied the saved plan: karma-dev\/worker applied/);

    process.env['KARMA_PLAN_TTL'] = '1';
    try {
      const late = await propose('worker', { ...JSON.parse(fs.readFileSync(join(dir, 'environments', 'karma-dev', 'worker.json'), 'utf8')), concurrency: 8 });
      await new Promise((r) => setTimeout(r, 1100));
      const expired = await karma('apply', late.id, '-c', dir, '--terraform', terraform, '--yes');
      expect(expired.code).toBe(2);
      expect(expired.stderr.join('\n')).toMatch(/the plan for p-[0-9a-f]+ expired at .* and was deleted; re-plan with karma plan/);
      expect(fs.existsSync(planDir(late.id))).toBe(false);
      await git.deleteBranch({ fs, dir, ref: `karma/proposals/${late.id}` });
    } finally {
      delete process.env['KARMA_PLAN_TTL'];
    }
  }, 600_000);

  it('a plan that replaces a resource needs --allow-destroy', async () => {
    const { id, plan } = await propose('security-baseline', { log_retention_days: 60 });
    expect(plan.resources).toContainEqual({ address: 'terraform_data.retention', action: 'replace' });
    const refused = await karma('apply', id, '-c', dir, '--terraform', terraform, '--yes');
    expect(refused.code).toBe(2);
    expect(refused.stderr.join('\n')).toMatch(/destroys or replaces terraform_data\.retention \(replace\).*--allow-destroy/);
    expect(refused.stdout.join('\n')).toMatch(/-\/\+ terraform_data\.retention/);
    expect(await branches()).toContain(`karma/proposals/${id}`);
    const ok = await karma('apply', id, '-c', dir, '--terraform', terraform, '--yes', '--allow-destroy', '--json');
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout[0]!) as ApplyJson).component).toMatchObject({ component: 'security-baseline', outcome: 'applied' });
  }, 600_000);

  it('a plan whose resolved inputs moved since (a parameter changed) is refused, and no secret is printed', async () => {
    const api = JSON.parse(fs.readFileSync(join(dir, 'environments', 'karma-dev', 'api-service.json'), 'utf8')) as Record<string, unknown>;
    const { id, plan } = await propose('api-service', { ...api, desired_count: 2 });
    expect(plan).toMatchObject({ status: 'planned' });
    expect((await karma('runtime', 'put', '/acme/external/datadog-api-key', 'dd-e2e-rotated-key', '--type', 'SecureString', '-c', dir)).code).toBe(0);
    const refused = await karma('apply', id, '-c', dir, '--terraform', terraform, '--yes', '-v');
    expect(refused.code).toBe(2);
    expect(refused.stderr.join('\n')).toMatch(/resolved inputs changed since the plan was made.*re-plan with karma plan p-/);
    const printed = [...refused.stdout, ...refused.stderr].join('\n');
    expect(printed).not.toContain('dd-e2e-not-a-real-key');
    expect(printed).not.toContain('dd-e2e-rotated-key');
    expect(fs.existsSync(planDir(id))).toBe(false);
    expect(await branches()).toContain(`karma/proposals/${id}`);
    await git.deleteBranch({ fs, dir, ref: `karma/proposals/${id}` });
  }, 600_000);

  it('bare karma apply: two open proposals are listed (exit 2); one is applied', async () => {
    const a = await propose('monitoring', { alarm_email: 'oncall@acme.example.com' });
    const b = await propose('security-baseline', { log_retention_days: 30 }, '--no-plan');
    expect(b.plan).toBeNull();
    const two = await karma('apply', '-c', dir, '--terraform', terraform, '--yes');
    expect(two.code).toBe(2);
    expect(two.stdout.join('\n')).toContain(a.id);
    expect(two.stdout.join('\n')).toContain(b.id);
    expect(two.stderr.join('\n')).toMatch(/2 open proposals.*karma apply ID/);
    await git.deleteBranch({ fs, dir, ref: `karma/proposals/${b.id}` });
    const one = await karma('apply', '-c', dir, '--terraform', terraform, '--yes', '--json');
    expect(one.code).toBe(0);
    const out = JSON.parse(one.stdout[0]!) as ApplyJson;
    expect(out.merged).toMatchObject({ proposal: { id: a.id } });
    expect(out.component).toMatchObject({ component: 'monitoring', outcome: 'applied' });
  }, 600_000);

  it('pipeline run --mode plan shows each plan summary', async () => {
    const r = await karma('pipeline', 'run', '--env', 'karma-dev', '--mode', 'plan', '-c', dir, '--terraform', terraform, '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout[0]!) as { summary: { rows: Row[] } };
    const queue = out.summary.rows.find((x) => x.component === 'queue')!;
    expect(queue).toMatchObject({ result: 'planned', detail: 'Plan: 0 to add, 1 to change, 0 to destroy.' });
    expect(queue.plan!.resources).toEqual([{ address: 'terraform_data.queue', action: 'update' }]);
  }, 600_000);
});
