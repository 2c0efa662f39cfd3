/**
 * The example repo through the pipeline, executed locally from statemachines/pipeline.asl.json, with a real
 * Terraform (test/helpers/terraform.ts) and the local backend.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../lib/app/backend.ts';
import { buildFromConfig, loadConfig } from '../../lib/app/build.ts';
import { runLocalPipeline, type LocalPipelineResult } from '../../lib/app/pipeline/local-run.ts';
import { DirectorySource } from '../../lib/adapters/fs/directory-source.ts';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { PIPELINE_ERRORS } from '../../lib/core/pipeline-contract.ts';
import { ensureTerraform } from '../helpers/terraform.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'acme-platform');
let dir: string;
let terraform: string;

async function run(input: Record<string, unknown>): Promise<LocalPipelineResult> {
  return runLocalPipeline({ configDir: dir, input: { trigger: 'manual', ...input }, terraform, waitMillis: 10 });
}

async function statuses(env: string): Promise<Record<string, string>> {
  const config = await loadConfig(new DirectorySource(dir));
  const backend = openLocalBackend(join(dir, '.karma', 'karma.db'), { create: false });
  try {
    const { build } = await buildFromConfig(config, backend.runtime);
    return Object.fromEntries([...build.statuses.values()].filter((s) => s.env === env).map((s) => [s.component, s.status]));
  } finally {
    await backend.close();
  }
}

const waves = (r: LocalPipelineResult): [string, string[]][] => r.waves.map((w) => [w.env, [...w.components]]);
const rows = (r: LocalPipelineResult): [string, string, string][] => (r.summary?.rows ?? []).map((x) => [x.env, x.component, x.result]);

function edit(file: string, from: string, to: string): void {
  const path = join(dir, file);
  const text = readFileSync(path, 'utf8');
  if (!text.includes(from)) throw new Error(`${file} does not contain ${from}`);
  writeFileSync(path, text.replace(from, to));
}

beforeAll(async () => {
  terraform = ensureTerraform();
  dir = mkdtempSync(join(tmpdir(), 'karma-e2e-'));
  cpSync(EXAMPLE, dir, { recursive: true, filter: (p) => !p.includes(`${join('acme-platform', '.karma')}`) });
  const backend = openLocalBackend(join(dir, '.karma', 'karma.db'), { create: true });
  await backend.runtime.put('/acme/external/datadog-api-key', 'e2e-secret-value', { type: 'SecureString' });
  await backend.close();
}, 20 * 60 * 1000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pipeline run (local, same ASL, real terraform)', () => {
  it('the first run applies every wave in dependency order, shared environment first', async () => {
    // Act
    const result = await run({});
    // Assess
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const app = [['network', 'security-baseline'], ['cache', 'database', 'queue'], ['api-service', 'worker'], ['monitoring', 'serverless-site']];
    expect(waves(result)).toEqual([
      ['karma-shared', ['dns-zone']],
      ...app.map((w): [string, string[]] => ['karma-dev', w]),
      ...app.map((w): [string, string[]] => ['karma-prod', w]),
    ]);
    expect(result.summary?.applied).toBe(19);
    expect(new Set(Object.values(await statuses('karma-dev')))).toEqual(new Set(['in-sync']));
  });

  it('secrets never reach the Terraform logs: a SecureString input and a sensitive output are redacted', async () => {
    // Prepare: api-service's module does not mark datadog_api_key sensitive, so `terraform apply` prints it
    const backend = openLocalBackend(join(dir, '.karma', 'karma.db'), { create: false });
    const [password] = await backend.runtime.readNames(['/karma/karma-dev/database/outputs/master_password']);
    await backend.close();
    const logs = ['api-service', 'database'].map((c) => readFileSync(join(dir, '.karma', 'work', 'karma-dev', c, 'apply.log'), 'utf8'));
    // Assess
    expect(password?.type).toBe('SecureString');
    for (const log of logs) {
      expect(log).not.toContain('e2e-secret-value');
      expect(log).not.toContain(password!.value);
    }
    expect(logs[0]).toContain('(sensitive)');
  });

  it('a second run applies nothing', async () => {
    const result = await run({});
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(result.waves).toEqual([]);
    expect(result.summary?.rows).toEqual([]);
  });

  it('changing one input applies that component and only the dependents whose inputs changed', async () => {
    // Prepare: a third subnet changes network.private_subnet_ids, not network.vpc_id
    edit('environments/karma-dev/network.json', '"az_count": 2', '"az_count": 3');
    // Act
    const result = await run({ env: 'karma-dev' });
    // Assess: cache and database consume the subnets; their endpoints derive from vpc_id only, so
    // api-service and worker (which consume the endpoints) are not re-applied
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    expect(waves(result)).toEqual([
      ['karma-dev', ['network']],
      ['karma-dev', ['cache', 'database']],
    ]);
  });

  it("Karma's own writes start no work; a change made outside Karma does", async () => {
    // Act: the change events Karma's own apply produced (an output it wrote, a state record)
    const ownOutput = await run({ trigger: 'ssm-change', parameter: '/karma/karma-dev/network/outputs/private_subnet_ids' });
    const ownState = await run({ trigger: 'ssm-change', parameter: '/karma/karma-dev/network/state' });
    // Assess
    expect([ownOutput.status, ownOutput.waves]).toEqual(['SUCCEEDED', []]);
    expect([ownState.status, ownState.waves]).toEqual(['SUCCEEDED', []]);

    // Prepare: someone rotates the external API key both environments' api-service consume
    const backend = openLocalBackend(join(dir, '.karma', 'karma.db'), { create: false });
    await backend.runtime.put('/acme/external/datadog-api-key', 'rotated-secret-value', { type: 'SecureString' });
    await backend.close();
    // Act
    const rotated = await run({ trigger: 'ssm-change', parameter: '/acme/external/datadog-api-key' });
    // Assess: only the consumers, in both environments
    expect(rotated.status, `${rotated.error}: ${rotated.cause}`).toBe('SUCCEEDED');
    expect(waves(rotated)).toEqual([
      ['karma-dev', ['api-service']],
      ['karma-prod', ['api-service']],
    ]);
  });

  it('a failing component skips its dependents, and the independent ones finish', async () => {
    // Prepare: cache gets an invalid node type, api-service (needs cache) and queue (independent) change too
    edit('environments/karma-dev/cache.json', '"cache.t4g.small"', '"m5.large"');
    edit('environments/karma-dev/api-service.json', '"desired_count": 1', '"desired_count": 2');
    edit('environments/karma-dev/queue.yaml', 'visibility_timeout: 60', 'visibility_timeout: 90');
    // Act
    const result = await run({ env: 'karma-dev' });
    // Assess
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe(PIPELINE_ERRORS.componentsFailed);
    expect(waves(result)).toEqual([['karma-dev', ['cache', 'queue']]]);
    expect(rows(result)).toEqual([
      ['karma-dev', 'cache', 'failed'],
      ['karma-dev', 'queue', 'applied'],
      ['karma-dev', 'api-service', 'skipped'],
    ]);
    const details = Object.fromEntries((result.summary?.rows ?? []).map((r) => [r.component, r.detail]));
    // The whole first Terraform error, and where the log is
    expect(details['cache']).toMatch(
      /^apply failed at .*: Error: Invalid value for variable: node_type must be an ElastiCache node type, like cache\.t4g\.small\. This was checked by the validation rule at \S+\.tf:[\d,-]+\. \(log: \S+\/\.karma\/work\/karma-dev\/cache\/apply\.log\)$/,
    );
    expect(details['api-service']).toBe('blocked: cache is failed');
    expect(result.cause).toContain('api-service');
  });

  it('drift mode flags a drifted component and reports its dependents at risk', async () => {
    // Prepare: someone changed the worker outside Terraform (its recorded state no longer matches)
    const state = join(dir, '.karma', 'state', 'karma-dev', 'worker', 'terraform.tfstate');
    const tfstate = JSON.parse(readFileSync(state, 'utf8')) as { resources: { instances: { attributes: { input: { value: { concurrency: number } } } }[] }[]; serial: number };
    tfstate.resources[0]!.instances[0]!.attributes.input.value.concurrency = 16;
    tfstate.serial += 1;
    writeFileSync(state, JSON.stringify(tfstate));
    // Act
    const result = await run({ env: 'karma-dev', mode: 'drift' });
    // Assess
    expect(result.status, `${result.error}: ${result.cause}`).toBe('SUCCEEDED');
    const byComponent = Object.fromEntries(rows(result).map(([, c, r]) => [c, r]));
    expect(byComponent['worker']).toBe('drifted');
    expect(byComponent['monitoring']).toBe('at-risk');
    expect(byComponent['network']).toBe('in-sync');
    expect(byComponent['cache']).toBeUndefined(); // failed: not a drift candidate
    expect((await statuses('karma-dev'))['worker']).toBe('drifted');
  });

  it('karma drift exits 3 when drift is found (0 none, 1 failed, 2 bad input)', async () => {
    // Act: the worker is still drifted (previous test); the CLI runs the same pipeline in drift mode
    const io = memoryIO();
    const code = await main(['drift', '--env', 'karma-dev', '-c', dir, '--terraform', terraform, '--json'], io);
    // Assess
    const out = JSON.parse(io.stdout.join('')) as { status: string; summary: { drifted: number } };
    expect(out.status).toBe('SUCCEEDED');
    expect(out.summary.drifted).toBe(1);
    expect(code).toBe(3);
  });

  it('under drift.onTrigger: report (the default), an event-driven run reports drift and does not revert it', async () => {
    // Act: a push triggers an apply run while the worker is drifted
    const result = await run({ env: 'karma-dev', trigger: 'git-push' });
    // Assess: worker not applied, reported drifted with what to do; its state still holds the outside change
    expect(result.waves.flatMap((w) => w.components)).not.toContain('worker');
    const worker = result.summary?.rows.find((r) => r.component === 'worker');
    expect(worker?.result).toBe('drifted');
    expect(worker?.detail).toMatch(/not reverted \(drift\.onTrigger is report for a git-push run\): run karma pipeline run --env karma-dev to revert it/);
    expect((await statuses('karma-dev'))['worker']).toBe('drifted');
    const state = JSON.parse(readFileSync(join(dir, '.karma', 'state', 'karma-dev', 'worker', 'terraform.tfstate'), 'utf8')) as { resources: { instances: { attributes: { input: { value: { concurrency: number } } } }[] }[] };
    expect(state.resources[0]!.instances[0]!.attributes.input.value.concurrency).toBe(16);
  });

  it('drift.onTrigger: revert lets an event-driven run re-apply a drifted component', async () => {
    // Prepare
    edit('karma.yaml', 'project: acme-platform', 'project: acme-platform\ndrift:\n  onTrigger: revert');
    try {
      // Act
      const result = await run({ env: 'karma-dev', trigger: 'schedule', mode: 'apply' });
      // Assess
      expect(result.waves.flatMap((w) => w.components)).toContain('worker');
      expect(result.summary?.rows.find((r) => r.component === 'worker')?.result).toBe('applied');
      expect((await statuses('karma-dev'))['worker']).toBe('in-sync');
    } finally {
      edit('karma.yaml', 'project: acme-platform\ndrift:\n  onTrigger: revert', 'project: acme-platform');
    }
  });

  it('a bad execution input fails at once with one clear cause', async () => {
    const result = await run({ env: 'karma-dev', mode: 'destroy' });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe(PIPELINE_ERRORS.invalidInput);
    expect(result.cause).toBe(
      'invalid execution input: mode: Invalid option: expected one of "apply"|"plan"|"drift". Expected e.g. {"env":"karma-dev","mode":"apply"} (fields: trigger, env, components, mode, ref, commit, parameter, lockTimeout, event)',
    );
  });
});
