/**
 * Secrets never leak, end to end, with a real Terraform and the local backend. A producer (s1) outputs a
 * structured secret (a map with a password full of quotes and backslashes and a multi-line PEM key, listed in
 * sensitiveOutputs) and a token Terraform marks `sensitive` that component.yaml forgets. Its consumer (c1)
 * declares plain variables (so Terraform prints them), prints them again from a local-exec, and fails, so the
 * values would reach its error, its state, the statuses and the graph. Then every sink is searched for every
 * secret in every encoding: raw, JSON-escaped, each line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { openLocalBackend } from '../../lib/app/backend.ts';
import { applyChanges, makeTempDir, removeDir } from '../helpers/config-repo.ts';
import { ensureTerraform } from '../helpers/terraform.ts';

const PASSWORD = 'p"w\\d-e2e-7Hq2Zr';
const PEM = ['-----BEGIN PRIVATE KEY-----', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7e2e', 'q2Xr9mZ0a1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZe2e==', '-----END PRIVATE KEY-----'].join('\n');
const USER = 'admin-user-e2e-9Kd';
const TOKEN = 'tok-e2e-4Fw8Lx0Pq';

const REPO: Record<string, string> = {
  'karma.yaml': ['project: secrets', 'environments:', '  karma-dev:', '    region: eu-west-1', '    account: "222222222222"', ''].join('\n'),
  'components/s1/component.yaml': ['terraform: ../../modules/s1', 'outputs: [creds, token]', 'sensitiveOutputs: [creds]', ''].join('\n'),
  'modules/s1/main.tf': [
    'variable "password" {}',
    'variable "pem" {}',
    'variable "token" {}',
    'resource "terraform_data" "s" { input = { password = var.password, pem = var.pem } }',
    `output "creds" {`,
    `  value     = { user = "${USER}", password = var.password, key = var.pem }`,
    '  sensitive = true',
    '}',
    'output "token" {',
    '  value     = var.token',
    '  sensitive = true',
    '}',
    '',
  ].join('\n'),
  'environments/karma-dev/s1.json': JSON.stringify({ password: '${ssm:/ext/password}', pem: '${ssm:/ext/pem}', token: '${ssm:/ext/token}' }, null, 2),
  'components/c1/component.yaml': ['terraform: ../../modules/c1', 'outputs: [done]', ''].join('\n'),
  'modules/c1/main.tf': [
    'variable "creds" {}',
    'variable "token" {}',
    'resource "terraform_data" "c" {',
    '  input = { creds = var.creds, token = var.token }',
    '  provisioner "local-exec" {',
    // Its first line (the start of the failure's message) holds the password raw; the log all of them.
    '    command = "echo ${var.creds.password} ${var.token} ${jsonencode(var.creds)}; exit 1"',
    '  }',
    '}',
    'output "done" { value = terraform_data.c.id }',
    '',
  ].join('\n'),
  'environments/karma-dev/c1.json': JSON.stringify({ creds: '${s1.creds}', token: '${s1.token}' }, null, 2),
};

/** Every encoding a secret may be printed in: raw, JSON-escaped, JSON-escaped twice, each line. */
function encodings(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const lines = secret.split('\n').map((l) => l.trim()).filter((l) => l.length >= 4);
  return [...new Set([secret, json, JSON.stringify(json).slice(1, -1), ...(lines.length > 1 ? lines : [])])];
}
const FORBIDDEN = [PASSWORD, PEM, USER, TOKEN].flatMap(encodings);

/** The forbidden strings found in a text (or bytes read as latin1, as `strings` would show them). */
function leaks(text: string): string[] {
  return FORBIDDEN.filter((f) => text.includes(f) || text.includes(Buffer.from(f, 'utf8').toString('latin1')));
}

let dir: string;
let repo: string;
let terraform: string;
const printed: { what: string; text: string }[] = [];

async function karma(...argv: string[]): Promise<number> {
  const io = memoryIO();
  const code = await main([...argv, '-c', repo], io);
  printed.push({ what: `karma ${argv.join(' ')}`, text: [...io.stdout, ...io.stderr].join('\n') });
  return code;
}

beforeAll(async () => {
  terraform = ensureTerraform();
  dir = makeTempDir('karma-secrets-');
  repo = join(dir, 'repo');
  applyChanges(repo, REPO);
  const backend = openLocalBackend(join(repo, '.karma', 'karma.db'), { create: true });
  await backend.runtime.put('/ext/password', PASSWORD, { type: 'SecureString' });
  await backend.runtime.put('/ext/pem', PEM, { type: 'SecureString' });
  await backend.runtime.put('/ext/token', TOKEN, { type: 'SecureString' });
  await backend.close();
}, 20 * 60 * 1000);

afterAll(() => removeDir(dir));

describe('secrets never leak (real terraform, local backend)', () => {
  it('the pipeline applies s1 and fails c1, whose error is redacted', async () => {
    // Act
    const code = await karma('pipeline', 'run', '--env', 'karma-dev', '--terraform', terraform);
    const json = await karma('pipeline', 'run', '--env', 'karma-dev', '--terraform', terraform, '--json');
    // Assess
    expect([code, json]).toEqual([1, 1]);
    const backend = openLocalBackend(join(repo, '.karma', 'karma.db'), { create: false });
    const [creds, token, state] = await backend.runtime.readNames(['/karma/karma-dev/s1/outputs/creds', '/karma/karma-dev/s1/outputs/token', '/karma/karma-dev/c1/state']);
    await backend.close();
    expect([creds?.type, token?.type]).toEqual(['SecureString', 'SecureString']);
    expect(JSON.parse(creds!.value)).toEqual({ user: USER, password: PASSWORD, key: PEM });
    expect(JSON.parse(state!.value)).toMatchObject({ result: 'failed', error: expect.stringContaining('(sensitive)') });
  }, 300_000);

  it('every query and every apply prints no secret', async () => {
    // Act: the component again, streamed (-v) and as JSON; then every reading command
    expect(await karma('component', 'apply', 'c1', 'karma-dev', '--terraform', terraform, '-v')).toBe(1);
    expect(await karma('component', 'apply', 'c1', 'karma-dev', '--terraform', terraform, '--json')).toBe(1);
    // A plan prints the variables a module does not mark sensitive; its saved plan file holds them all.
    expect(await karma('component', 'plan', 'c1', 'karma-dev', '--terraform', terraform, '-v')).toBe(0);
    expect(await karma('component', 'plan', 'c1', 'karma-dev', '--terraform', terraform, '--json')).toBe(0);
    expect(printed.at(-1)!.text).toContain('"plan":{"add":1');
    expect(await karma('graph', 'build')).toBe(0);
    for (const args of [['graph', 'why', 'c1', 'karma-dev'], ['graph', 'show', '--env', 'karma-dev', '--format', 'json'], ['graph', 'show', '--env', 'karma-dev'], ['graph', 'history'], ['runtime', 'list'], ['runtime', 'list', '--json']]) {
      await karma(...args);
      await karma(...args, '--json');
    }
    // Assess: the reason made it everywhere, redacted
    const why = printed.find((p) => p.what === 'karma graph why c1 karma-dev')!.text;
    expect(why).toMatch(/c1 is failed: apply failed at .*: Error: local-exec provisioner error: Error running command 'echo \(sensitive\)/);
    for (const p of printed) expect(leaks(p.text), p.what).toEqual([]);
  }, 300_000);

  it('no log, no var file and no store table (state, graph, snapshots, builds) holds a secret', () => {
    // Prepare: every log under the work folder; the store with the SecureString parameters (the one place
    // secrets are kept, docs/secrets.md) removed, vacuumed so no deleted page survives, read as bytes
    const work = join(repo, '.karma', 'work');
    const logs = readdirSync(work, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.log'));
    const copy = join(dir, 'store-copy.db');
    const db = new DatabaseSync(join(repo, '.karma', 'karma.db'));
    db.exec(`VACUUM INTO '${copy}'`);
    db.close();
    const unscrubbed = readFileSync(copy).toString('latin1');
    const scrubbed = new DatabaseSync(copy);
    const secure = scrubbed.prepare("SELECT count(*) AS n FROM parameter_history WHERE type = 'SecureString'").get() as { n: number };
    scrubbed.exec("DELETE FROM parameters WHERE type = 'SecureString'; DELETE FROM parameter_history WHERE type = 'SecureString';");
    const snapshots = (scrubbed.prepare('SELECT snapshot FROM builds').all() as { snapshot: Uint8Array }[]).map((r) => gunzipSync(r.snapshot).toString('utf8'));
    scrubbed.exec('VACUUM');
    scrubbed.close();
    const bytes = readFileSync(copy).toString('latin1');
    // Assess
    expect(logs.map((l) => l.split('/').pop()).sort()).toEqual(['apply.log', 'apply.log', 'plan.log']);
    // The saved plan (every variable's value in clear) is gone once its summary was read; the summary holds none.
    const files = readdirSync(work, { recursive: true, encoding: 'utf8' });
    expect(files.filter((f) => f.endsWith('.tfplan'))).toEqual([]);
    const summary = readFileSync(join(work, 'karma-dev', 'c1', 'plan-summary.json'), 'utf8');
    // c1's resource is tainted by its failed provisioner: replaced.
    expect(JSON.parse(summary)).toMatchObject({ line: 'Plan: 1 to add, 0 to change, 1 to destroy.', resources: [{ address: 'terraform_data.c', action: 'replace' }] });
    expect(leaks(summary)).toEqual([]);
    for (const log of logs) expect(leaks(readFileSync(join(work, log), 'utf8')), log).toEqual([]);
    expect(readFileSync(join(work, 'karma-dev', 'c1', 'apply.log'), 'utf8')).toContain('(sensitive)');
    expect(readdirSync(work, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('karma.tfvars.json'))).toEqual([]);
    expect(secure.n).toBe(5);
    expect(snapshots.length).toBeGreaterThan(0);
    for (const s of snapshots) expect(leaks(s)).toEqual([]);
    expect(leaks(bytes)).toEqual([]);
    // The control: the same scan finds every secret in the store before its SecureStrings are removed
    expect(leaks(unscrubbed)).toEqual(expect.arrayContaining([PASSWORD, USER, TOKEN, ...PEM.split('\n').slice(1, 3)]));
  });
});
