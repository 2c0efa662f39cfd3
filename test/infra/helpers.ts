/**
 * Shared fixtures for the infra tests: settings for a CodeCommit and a GitHub deployment, and an in-process
 * synth with bundling skipped (the CLI synth test, synth.test.ts, is the one that bundles with esbuild).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { karmaApp } from '../../lib/infra/app.ts';
import type { KarmaSettingsInput } from '../../lib/infra/settings.ts';
import type { KarmaStack } from '../../lib/infra/karma-stack.ts';

export const CODECOMMIT_SETTINGS: KarmaSettingsInput = {
  account: '123456789012',
  region: 'eu-west-1',
  configRepo: { codecommit: { name: 'karma-config' } },
  branch: 'main',
  parameterPrefix: '/karma',
  environments: {
    'karma-dev': { deployRoleArn: 'arn:aws:iam::123456789012:role/karma-deploy-dev' },
    'karma-prod': { deployRoleArn: 'arn:aws:iam::210987654321:role/karma-deploy-prod' },
  },
  neptune: { minCapacity: 1, maxCapacity: 4 },
  maxParallel: 6,
};

export const GITHUB_SETTINGS: KarmaSettingsInput = {
  ...CODECOMMIT_SETTINGS,
  configRepo: { github: { owner: 'acme', repo: 'infra-config' } },
  driftSchedule: 'rate(12 hours)',
  notificationEmails: ['ops@example.com'],
};

export interface Synthesized {
  readonly stack: KarmaStack;
  readonly template: Template;
  readonly outdir: string;
}

export function synth(settings: KarmaSettingsInput, options: { nag?: boolean } = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'karma-cdk-'));
  const { app, stack } = karmaApp({
    outdir,
    nag: options.nag ?? false,
    context: { karma: settings, 'aws:cdk:bundling-stacks': [] },
  });
  app.synth();
  return { stack, template: Template.fromStack(stack), outdir };
}
