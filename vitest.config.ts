import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        // CDK app: settings, webhook, template assertions, event patterns on moto, cdk-nag, the real `cdk synth`.
        test: { name: 'infra', include: ['test/infra/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 180_000 },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          // Real terraform runs: generous, so a loaded machine slows them down without failing them.
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          globalSetup: ['test/integration/setup/servers.ts'],
        },
      },
      {
        // The web UI in Debian's Chromium (Playwright) against a real karma serve with real Terraform.
        test: { name: 'ui', include: ['test/ui/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 180_000, globalSetup: ['test/ui/setup.ts'] },
      },
    ],
  },
});
