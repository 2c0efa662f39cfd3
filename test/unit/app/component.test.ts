/**
 * `karma component apply` against stand-ins for Terraform (small shell scripts): what a bad or surprising
 * `terraform output -json` does, outputs Terraform marks sensitive, and the resolved var file (it holds
 * secrets) never outliving a run, interrupted or not. The real Terraform runs in test/e2e/secrets.test.ts.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { karma } from '../../support/cli.ts';
import { openLocalBackend } from '../../../lib/app/backend.ts';
import { parseState } from '../../../lib/core/runtime.ts';
import { makeRepo, makeTempDir, removeDir } from '../../helpers/config-repo.ts';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const SECRET = 'vpc-secret-0123456789';


/** A stand-in for terraform: `case "$1" in <cases> esac`, every other command succeeds silently. */
function fakeTerraform(dir: string, name: string, cases: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\ncase "$1" in\n${cases}\nesac\nexit 0\n`);
  chmodSync(path, 0o755);
  return path;
}

async function parameter(repo: string, name: string) {
  const backend = openLocalBackend(join(repo, '.karma', 'karma.db'), { create: false });
  try {
    return (await backend.runtime.readNames([name]))[0];
  } finally {
    await backend.close();
  }
}

const workDir = (repo: string, component: string): string => join(repo, '.karma', 'work', 'karma-dev', component);

let tmp: string;
beforeAll(() => {
  tmp = makeTempDir();
});
afterAll(() => removeDir(tmp));

describe('what terraform output -json says', () => {
  it('output that is not JSON (KARMA_TERRAFORM=/bin/echo) fails the component in one line and records the failure', async () => {
    // Prepare
    const repo = makeRepo(join(tmp, 'echo'));
    // Act
    const run = await karma('component', 'apply', 'network', 'karma-dev', '-c', repo, '--terraform', '/bin/echo');
    // Assess
    expect(run.code).toBe(1);
    expect(run.stdout).toHaveLength(1);
    expect(run.stdout[0]).toMatch(/^karma-dev\/network: failed: terraform output -json printed no valid JSON \(\d+ characters on stdout\); is the configured binary .* terraform or tofu\? in \d+ ms$/);
    expect(run.stderr.join('\n')).not.toMatch(/unexpected|SyntaxError/);
    const state = parseState(await parameter(repo, '/karma/karma-dev/network/state'));
    expect(state.kind === 'ok' && [state.state.result, state.state.error]).toEqual(['failed', expect.stringMatching(/^terraform output -json printed no valid JSON/)]);
    expect(existsSync(join(workDir(repo, 'network'), 'karma.tfvars.json'))).toBe(false);
  });

  it('JSON of the wrong shape is a failure too, and --json prints only the result', async () => {
    const repo = makeRepo(join(tmp, 'shape'));
    const tf = fakeTerraform(tmp, 'tf-shape', `output) echo '["vpc_id"]';;`);
    const run = await karma('component', 'apply', 'network', 'karma-dev', '-c', repo, '--terraform', tf, '--json');
    expect(run.code).toBe(1);
    expect(run.stderr).toEqual([]);
    expect(JSON.parse(run.stdout[0]!)).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/^terraform output -json printed JSON that is not a map of outputs/) });
  });

  it('a declared output the module never produces fails the apply, naming it, and blocks its consumer', async () => {
    // Prepare: network declares vpc_id; this "module" produces another output only
    const repo = makeRepo(join(tmp, 'missing'));
    const tf = fakeTerraform(tmp, 'tf-missing', `output) echo '{"other":{"sensitive":false,"type":"string","value":"x"}}';;`);
    // Act
    const run = await karma('component', 'apply', 'network', 'karma-dev', '-c', repo, '--terraform', tf);
    const why = await karma('graph', 'why', 'app', 'karma-dev', '-c', repo);
    // Assess
    expect(run.code).toBe(1);
    const message = 'the module produced no value for declared output vpc_id; add it to the module in modules/network (an output block with a non-null value) or remove it from outputs in components/network/component.yaml';
    expect(run.stdout[0]).toContain(`karma-dev/network: failed: ${message}`);
    const state = parseState(await parameter(repo, '/karma/karma-dev/network/state'));
    expect(state.kind === 'ok' && [state.state.result, state.state.error]).toEqual(['failed', message]);
    expect(why.stdout.join('\n')).toContain('network is failed');
  });

  it('the pipeline reports that apply as failed, skips the consumer, and exits 1', async () => {
    const repo = makeRepo(join(tmp, 'missing-pipeline'));
    const tf = fakeTerraform(tmp, 'tf-missing-pipeline', `output) echo '{}';;`);
    const run = await karma('pipeline', 'run', '--env', 'karma-dev', '-c', repo, '--terraform', tf, '--json');
    expect(run.code).toBe(1);
    const rows = (JSON.parse(run.stdout[0]!) as { summary: { rows: { component: string; result: string; detail?: string }[] } }).summary.rows;
    expect(rows.map((r) => [r.component, r.result])).toEqual([['network', 'failed'], ['app', 'skipped']]);
    expect(rows[0]!.detail).toContain('declared output vpc_id');
  }, 60_000);
});

describe("Terraform's own sensitive flag", () => {
  it('an output Terraform marks sensitive is a SecureString, never listed, never in the graph, redacted in its consumer', async () => {
    // Prepare: component.yaml does not list vpc_id in sensitiveOutputs; Terraform says it is sensitive.
    // The consumer's stand-in prints its var file during apply, as a plan prints a variable not marked sensitive.
    const repo = makeRepo(join(tmp, 'sensitive'));
    const producer = fakeTerraform(tmp, 'tf-producer', `output) echo '{"vpc_id":{"sensitive":true,"type":"string","value":"${SECRET}"}}';;`);
    const consumer = fakeTerraform(tmp, 'tf-consumer', `apply) cat karma.tfvars.json; echo "var.vpc is \\"${SECRET}\\"" >&2;;\noutput) echo '{"url":{"sensitive":false,"type":"string","value":"https://app"}}';;`);
    // Act
    const applied = await karma('component', 'apply', 'network', 'karma-dev', '-c', repo, '--terraform', producer);
    const consumed = await karma('component', 'apply', 'app', 'karma-dev', '-c', repo, '--terraform', consumer, '-v');
    const list = await karma('runtime', 'list', '-c', repo, '--json');
    const show = await karma('graph', 'show', '--env', 'karma-dev', '--format', 'json', '-c', repo);
    // Assess
    expect([applied.code, consumed.code]).toEqual([0, 0]);
    expect((await parameter(repo, '/karma/karma-dev/network/outputs/vpc_id'))?.type).toBe('SecureString');
    const log = readFileSync(join(workDir(repo, 'app'), 'apply.log'), 'utf8');
    expect(log).toContain('"vpc": "(sensitive)"');
    for (const text of [log, ...consumed.stdout, ...consumed.stderr, ...list.stdout, ...show.stdout]) expect(text).not.toContain(SECRET);
    expect(consumed.stderr.join('\n')).toContain('var.vpc is "(sensitive)"');
  });
});

describe('the resolved var file never outlives a run', () => {
  it.each([['SIGTERM', 143], ['SIGINT', 130]] as const)('is removed on %s, Terraform is stopped, and karma exits %i', async (signal, exitCode) => {
    // Prepare: a "terraform apply" that hangs until stopped, recording its pid
    const repo = makeRepo(join(tmp, `signal-${signal}`));
    const pidFile = join(tmp, `${signal}.pid`);
    const tf = fakeTerraform(tmp, `tf-hang-${signal}`, `apply) echo $$ > ${pidFile}; exec sleep 30;;`);
    const varFile = join(workDir(repo, 'network'), 'karma.tfvars.json');
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'karma.ts'), 'component', 'apply', 'network', 'karma-dev', '-c', repo, '--terraform', tf], { stdio: 'ignore' });
    const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    for (let i = 0; i < 300 && !(existsSync(varFile) && existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(varFile)).toBe(true);
    const terraformPid = Number(readFileSync(pidFile, 'utf8'));
    // Act
    child.kill(signal);
    const code = await exited;
    // Assess
    expect(code).toBe(exitCode);
    expect(existsSync(varFile)).toBe(false);
    expect(() => process.kill(terraformPid, 0)).toThrow();
  }, 30_000);
});
