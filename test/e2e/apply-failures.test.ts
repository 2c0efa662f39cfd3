/**
 * Applies that end without a result, with a real terraform and the local pipeline: the component process killed
 * with SIGKILL mid-apply (as a crashed or out-of-memory CodeBuild container), and a module that hangs past the
 * apply deadline. Either way the component is recorded failed with the reason, its dependent is skipped (never
 * applied on the old output), and no terraform is left running.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../lib/app/backend.ts';
import { buildFromConfig, loadConfig } from '../../lib/app/build.ts';
import { runLocalPipeline, type LocalPipelineResult } from '../../lib/app/pipeline/local-run.ts';
import { DirectorySource } from '../../lib/adapters/fs/directory-source.ts';
import { applyChanges, makeRepo, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';

let tmp: string;
let terraform: string;

/** `up` produces `id` from its input; `down` consumes it. `up`'s module is replaced per test. */
function repo(name: string, upModule: string): string {
  return makeRepo(join(tmp, name), {
    'karma.yaml': 'project: failures\nenvironments:\n  dev: {}\n',
    'components/network/component.yaml': null,
    'components/app/component.yaml': null,
    'environments/karma-dev/network.json': null,
    'environments/karma-dev/app.json': null,
    'components/up/component.yaml': 'terraform: ../../modules/up\noutputs: [id]\n',
    'components/down/component.yaml': 'terraform: ../../modules/down\noutputs: [seen]\n',
    'modules/up/main.tf': upModule,
    'modules/down/main.tf': 'variable "upstream" {}\nresource "terraform_data" "d" { input = var.upstream }\noutput "seen" { value = var.upstream }\n',
    'environments/dev/up.json': '{ "v": "1" }\n',
    'environments/dev/down.json': '{ "upstream": "${up.id}", "n": "1" }\n',
  });
}

const FIRST = 'variable "v" {}\nresource "terraform_data" "u" { input = var.v }\noutput "id" { value = "up-${var.v}" }\n';

async function run(dir: string): Promise<LocalPipelineResult> {
  return runLocalPipeline({ configDir: dir, input: { trigger: 'manual', env: 'dev' }, terraform, waitMillis: 10 });
}

async function statusOf(dir: string): Promise<Record<string, [string, string]>> {
  const config = await loadConfig(new DirectorySource(dir));
  const backend = openLocalBackend(join(dir, '.karma', 'karma.db'), { create: false });
  try {
    const { build } = await buildFromConfig(config, backend.runtime);
    return Object.fromEntries([...build.statuses.values()].map((s) => [s.component, [s.status, s.reason]]));
  } finally {
    await backend.close();
  }
}

const rowsOf = (r: LocalPipelineResult) => Object.fromEntries((r.summary?.rows ?? []).map((x) => [x.component, [x.result, x.detail]]));

function running(marker: string): string {
  return spawnSync('pgrep', ['-af', marker], { encoding: 'utf8' }).stdout.trim();
}

beforeAll(() => {
  terraform = ensureTerraform();
  tmp = makeTempDir('karma-failures-');
}, 600_000);
afterAll(() => removeDir(tmp));

describe('applies that end without a result (real terraform, local pipeline)', () => {
  it('kill -9 of the component process mid-apply: recorded failed with the reason; the dependent is skipped, not applied on the old output', async () => {
    // Prepare: both applied once; then up and down both change, and up's apply kills its karma process
    const dir = repo('killed', FIRST);
    const first = await run(dir);
    expect(first.status, `${first.error}: ${first.cause}`).toBe('SUCCEEDED');
    const marker = `karma-orphan-${process.pid}-${Date.now()}`;
    const killer =
      'variable "v" {}\nresource "terraform_data" "u" {\n  triggers_replace = var.v\n' +
      // $PPID is terraform; its parent is the `karma component apply` process (what a dying CodeBuild container
      // takes down). Terraform itself goes on, orphaned, with a long provisioner: the runner must stop it.
      `  provisioner "local-exec" { command = "kill -9 $(ps -o ppid= -p $PPID); sleep 300 # ${marker}" }\n}\noutput "id" { value = "up-\${var.v}" }\n`;
    applyChanges(dir, { 'modules/up/main.tf': killer, 'environments/dev/up.json': '{ "v": "2" }\n', 'environments/dev/down.json': '{ "upstream": "${up.id}", "n": "2" }\n' });

    // Act
    process.env['KARMA_APPLY_GRACE'] = '5';
    let result: LocalPipelineResult;
    try {
      result = await run(dir);
    } finally {
      delete process.env['KARMA_APPLY_GRACE'];
    }

    // Assess: the orphaned terraform was stopped before the item failed
    expect(running(marker)).toBe('');
    expect(result.waves.map((w) => w.components)).toEqual([['up']]);
    const rows = rowsOf(result);
    expect(rows['up']![0]).toBe('failed');
    expect(rows['up']![1]).toMatch(/^apply failed at .*: the apply ended without recording a result \(the component process was killed \(SIGKILL\)\); its resources may be partly changed: see .*up\/apply\.log$/);
    expect(rows['down']).toEqual(['skipped', 'blocked: up is failed']);
    const statuses = await statusOf(dir);
    expect(statuses['up']![0]).toBe('failed');
    expect(statuses['down']).toEqual(['blocked', 'up is failed']);
  });

  it('a module hanging past the apply deadline: terraform stopped (SIGINT, then SIGKILL), the component recorded failed, nothing left running', async () => {
    // Prepare
    const marker = `karma-hang-${process.pid}-${Date.now()}`;
    const dir = repo('hang', `variable "v" {}\nresource "terraform_data" "u" {\n  input = var.v\n  provisioner "local-exec" { command = "sleep 300 # ${marker}" }\n}\noutput "id" { value = "up-\${var.v}" }\n`);
    process.env['KARMA_APPLY_TIMEOUT'] = '4';
    process.env['KARMA_APPLY_GRACE'] = '5';
    try {
      // Act
      const started = performance.now();
      const result = await run(dir);
      const seconds = (performance.now() - started) / 1000;

      // Assess
      expect(seconds).toBeLessThan(60);
      const rows = rowsOf(result);
      expect(rows['up']![0]).toBe('failed');
      expect(rows['up']![1]).toMatch(/timed out after 4 s; terraform was stopped/);
      expect(rows['down']![0]).toBe('skipped');
      expect((await statusOf(dir))['up']![0]).toBe('failed');
      expect(running(marker)).toBe('');
    } finally {
      delete process.env['KARMA_APPLY_TIMEOUT'];
      delete process.env['KARMA_APPLY_GRACE'];
      spawnSync('pkill', ['-f', marker]);
    }
  });
});
