/**
 * Builds the CDK app: settings from context, the Karma stack, cdk-nag's AwsSolutions pack as a validation
 * plugin (a finding fails the synth unless acknowledged with a reason).
 */
import { App, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { KarmaStack } from './karma-stack.ts';
import { settingsFromContext } from './settings.ts';

export interface KarmaAppOptions extends AppProps {
  /** Where a relative karmaSettingsFile is resolved. @default process.cwd() */
  readonly baseDir?: string;
  /** Run cdk-nag. @default true */
  readonly nag?: boolean;
}

export function karmaApp(options: KarmaAppOptions = {}): { app: App; stack: KarmaStack } {
  const { baseDir, nag, ...appProps } = options;
  const app = new App(appProps);
  const settings = settingsFromContext((key) => app.node.tryGetContext(key), baseDir ?? process.cwd());
  if (nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new KarmaStack(app, settings.stackName, { settings });
  return { app, stack };
}
