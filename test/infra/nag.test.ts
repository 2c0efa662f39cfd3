/** cdk-nag AwsSolutions as a validation plugin: the synth passes with zero unacknowledged findings. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODECOMMIT_SETTINGS, GITHUB_SETTINGS, synth } from './helpers.ts';

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['CodeCommit', CODECOMMIT_SETTINGS],
    ['GitHub', GITHUB_SETTINGS],
    ['private GitHub (token secret)', { ...GITHUB_SETTINGS, configRepo: { github: { owner: 'acme', repo: 'infra-config', tokenSecretName: 'karma/github-token' } } }],
  ])('%s deployment: no unacknowledged findings; every acknowledgement has a reason', (_name, settings) => {
    const { stack, outdir } = synth(settings, { nag: true }); // throws if any plugin reports a violation
    const report = join(outdir, 'policy-validation-report.json');
    if (existsSync(report)) {
      const json = JSON.parse(readFileSync(report, 'utf8')) as { pluginReports?: { summary?: { status?: string }; violations?: unknown[] }[] };
      for (const r of json.pluginReports ?? []) expect(r.violations ?? []).toEqual([]);
    }
    expect(stack.acknowledgements.length).toBeGreaterThan(0);
    for (const a of stack.acknowledgements) expect(a.reason.length).toBeGreaterThan(30);
  });
});
