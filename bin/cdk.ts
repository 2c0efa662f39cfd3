#!/usr/bin/env node
/**
 * The CDK app (cdk.json: "app": "npx node bin/cdk.ts"; Node 24 runs the TypeScript directly).
 * Settings: cdk.json context "karma", or -c karmaSettingsFile=FILE. See docs/deploy.md.
 */
import { karmaApp } from '../lib/infra/app.ts';
import { SettingsError } from '../lib/infra/settings.ts';

try {
  karmaApp().app.synth();
} catch (error) {
  if (error instanceof SettingsError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
