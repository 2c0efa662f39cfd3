/**
 * `npx cdk synth` through the real CLI (offline, no AWS, no Docker): exit 0 with cdk-nag on, and esbuild
 * bundled every Lambda (an index.mjs per function asset). A broken setting fails with one line.
 *
 * Then the synthesized (minified) Normalize and Build bundles are loaded and made to fail: the error name the
 * Lambda runtime reports (its errorType, which Step Functions matches against ErrorEquals) must be the name the
 * ASL names, although the minifier renamed the classes.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/infra/pipeline.ts';
import { API_GROUPS, errorEqualsNames, PIPELINE_ERRORS } from '../../lib/core/pipeline-contract.ts';

const env = { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', CI: 'true' };

interface TemplateResource {
  Type: string;
  Metadata?: Record<string, string>;
  Properties?: { Description?: string };
}

let out: string;
let synthStatus: number | null;
let synthOutput: string;
let seconds: number;

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'karma-synth-'));
  const started = Date.now();
  const r = spawnSync('npx', ['cdk', 'synth', '--quiet', '--output', out], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 170_000 });
  seconds = (Date.now() - started) / 1000;
  synthStatus = r.status;
  synthOutput = `${r.stdout}\n${r.stderr}`;
  // NodejsFunction leaves the AWS SDK v3 out of the bundle: the Lambda runtime provides it. Provide it here the
  // same way, beside the assets, and nothing else.
  mkdirSync(join(out, 'node_modules'));
  symlinkSync(join(REPO_ROOT, 'node_modules', '@aws-sdk'), join(out, 'node_modules', '@aws-sdk'));
}, 180_000);

function template(): { Resources: Record<string, TemplateResource> } {
  return JSON.parse(readFileSync(join(out, 'Karma.template.json'), 'utf8')) as { Resources: Record<string, TemplateResource> };
}

/** The synthesized bundle of one pipeline step (its function's description names the handler). */
function bundleOf(handler: string): string {
  const fn = Object.values(template().Resources).find((x) => x.Type === 'AWS::Lambda::Function' && x.Properties?.Description?.startsWith(`Karma pipeline step ${handler} (`));
  expect(fn, `the ${handler} function`).toBeDefined();
  return join(out, fn!.Metadata!['aws:asset:path']!, 'index.mjs');
}

/**
 * Invokes a bundle's `handler` in a fresh Node process, as the Lambda runtime does, and returns what the runtime
 * would report for a thrown error: errorType is the error's `name` (aws-lambda-nodejs-runtime-interface-client,
 * Errors.js toRapidResponse), the class name only for comparison.
 */
function invoke(bundle: string, event: unknown, environment: Record<string, string>): { errorType?: string; errorMessage?: string; className?: string; result?: unknown } {
  const script = [
    `const { handler } = await import(${JSON.stringify(new URL(`file://${bundle}`).href)});`,
    'let report;',
    `try { report = { result: await handler(${JSON.stringify(event)}, {}) }; }`,
    'catch (e) { report = { errorType: e.name, errorMessage: e.message, className: e.constructor.name }; }',
    "process.stdout.write('\\nKARMA-REPORT ' + JSON.stringify(report) + '\\n');",
  ].join('\n');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir(), ...environment }, encoding: 'utf8', timeout: 60_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('KARMA-REPORT '));
  expect(line, `no report from the bundle: ${r.stdout}\n${r.stderr}`).toBeDefined();
  return JSON.parse(line!.slice('KARMA-REPORT '.length)) as ReturnType<typeof invoke>;
}

describe('npx cdk synth', () => {
  it('synthesizes offline, cdk-nag clean, with every Lambda bundled by esbuild', () => {
    expect(synthStatus, synthOutput).toBe(0);
    expect(synthOutput).not.toMatch(/docker/i);
    const functions = Object.values(template().Resources).filter((x) => x.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBe(7 + API_GROUPS.length); // the pipeline's steps and the HTTP API's groups
    for (const fn of functions) {
      const assetPath = fn.Metadata?.['aws:asset:path'];
      expect(assetPath).toMatch(/^asset\.[0-9a-f]{64}$/);
      expect(existsSync(join(out, assetPath!, 'index.mjs'))).toBe(true);
    }
    console.log(`cdk synth: ${seconds.toFixed(1)} s`);
  });

  it('a broken setting fails the synth with one line naming the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'karma-settings-'));
    const file = join(dir, 'settings.json');
    writeFileSync(file, JSON.stringify({ account: '123456789012', region: 'eu-west-1', configRepo: { codecommit: { name: 'c' } }, environments: { 'karma-dev': { deployRoleArn: 'admin' } } }));
    const r = spawnSync('npx', ['node', 'bin/cdk.ts'], { cwd: REPO_ROOT, env: { ...env, CDK_CONTEXT_JSON: JSON.stringify({ karmaSettingsFile: file }) }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`karma settings: environments.karma-dev.deployRoleArn: must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME) (in ${file})`);
  }, 60_000);
});

describe('the synthesized, minified bundles raise the names the ASL matches', () => {
  const asl = JSON.parse(readFileSync(join(REPO_ROOT, 'statemachines', 'pipeline.asl.json'), 'utf8')) as Record<string, unknown>;

  it('Normalize: invalid input fails with InvalidInputError, which the Catch names', () => {
    // Prepare
    expect(synthStatus, synthOutput).toBe(0);
    expect(errorEqualsNames(asl)).toContain(PIPELINE_ERRORS.invalidInput);
    // Act
    const report = invoke(bundleOf('normalize'), { input: { env: 'karma-dev', colour: 'blue' }, executionId: 'arn:x' }, { KARMA_CONFIG: tmpdir(), KARMA_BACKEND: 'local' });
    // Assess
    expect(report.errorMessage).toMatch(/^invalid execution input: unknown field "colour"/);
    expect(report.errorType).toBe(PIPELINE_ERRORS.invalidInput);
    // The minifier did rename the class: without the literal name, errorType would be this.
    expect(report.className).not.toBe(PIPELINE_ERRORS.invalidInput);
  });

  it('Build: a store that cannot be opened fails with StoreError, which the Retry names', () => {
    // Prepare: the example repo, whose local store folder is a file, so the store cannot be created
    expect(synthStatus, synthOutput).toBe(0);
    expect(errorEqualsNames(asl)).toContain(PIPELINE_ERRORS.store);
    const repo = mkdtempSync(join(tmpdir(), 'karma-bundle-'));
    try {
      cpSync(join(REPO_ROOT, 'examples', 'acme-platform'), repo, { recursive: true, filter: (p) => !/[\\/](\.karma|\.terraform)([\\/]|$)/.test(p) });
      writeFileSync(join(repo, '.karma'), 'not a directory');
      const event = { run: { executionId: 'arn:aws:states:eu-west-1:123456789012:execution:karma:x', trigger: 'manual', mode: 'apply', env: 'karma-dev' } };
      // Act
      const report = invoke(bundleOf('build'), event, { KARMA_CONFIG: repo, KARMA_BACKEND: 'local', KARMA_SNAPSHOTS: join(repo, 'snapshots') });
      // Assess
      expect(report.errorMessage).toMatch(/^cannot open the local store at /);
      expect(report.errorType).toBe(PIPELINE_ERRORS.store);
      expect(report.className).not.toBe(PIPELINE_ERRORS.store);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});
