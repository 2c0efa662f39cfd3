/**
 * `npx cdk synth` through the real CLI (offline, no AWS, no Docker): exit 0 with cdk-nag on, and esbuild
 * bundled every Lambda (an index.mjs per function asset). A broken setting fails with one line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../lib/infra/pipeline.ts';

const env = { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', CI: 'true' };

describe('npx cdk synth', () => {
  it('synthesizes offline, cdk-nag clean, with every Lambda bundled by esbuild', () => {
    const out = mkdtempSync(join(tmpdir(), 'karma-synth-'));
    const started = Date.now();
    const r = spawnSync('npx', ['cdk', 'synth', '--quiet', '--output', out], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 170_000 });
    const seconds = (Date.now() - started) / 1000;
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).not.toMatch(/docker/i);
    const template = JSON.parse(readFileSync(join(out, 'Karma.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Metadata?: Record<string, string> }> };
    const functions = Object.values(template.Resources).filter((x) => x.Type === 'AWS::Lambda::Function');
    expect(functions.length).toBe(7);
    for (const fn of functions) {
      const assetPath = fn.Metadata?.['aws:asset:path'];
      expect(assetPath).toBeDefined();
      expect(existsSync(join(out, assetPath!, 'index.mjs'))).toBe(true);
    }
    console.log(`cdk synth: ${seconds.toFixed(1)} s`);
  }, 180_000);

  it('a broken setting fails the synth with one line naming the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'karma-settings-'));
    const file = join(dir, 'settings.json');
    writeFileSync(file, JSON.stringify({ account: '123456789012', region: 'eu-west-1', configRepo: { codecommit: { name: 'c' } }, environments: { 'karma-dev': { deployRoleArn: 'admin' } } }));
    const r = spawnSync('npx', ['node', 'bin/cdk.ts'], { cwd: REPO_ROOT, env: { ...env, CDK_CONTEXT_JSON: JSON.stringify({ karmaSettingsFile: file }) }, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`karma settings: environments.karma-dev.deployRoleArn: must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME) (in ${file})`);
  }, 60_000);
});
