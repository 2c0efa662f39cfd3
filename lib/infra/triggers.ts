/**
 * KarmaTriggers: what starts the state machine, each through an EventBridge rule whose target passes
 * {trigger, ...key fields, event} (input transformer), retries, and dead-letters into one encrypted queue.
 *
 *   ssm-change  Parameter Store Change under `<prefix>/`, not written by Karma (event-patterns.ts)
 *   git-push    CodeCommit referenceCreated/Updated on the tracked branch, or a GitHub push relayed by the
 *               webhook Lambda (function URL, signature checked) onto the Karma event bus
 *   schedule    drift checks (mode drift)
 * Plus the failure route: Step Functions execution FAILED / TIMED_OUT / ABORTED → SNS.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { codeCommitPushPattern, gitHubPushPattern, ssmChangePattern } from './event-patterns.ts';
import { karmaFunction, REPO_ROOT } from './pipeline.ts';
import { join } from 'node:path';

export interface KarmaTriggersProps {
  readonly stateMachine: sfn.IStateMachine;
  readonly topic: sns.ITopic;
  readonly parameterPrefix: string;
  /** Parameters outside the prefix that configs consume with ${ssm:...}: a change to them is a real change. @default none */
  readonly externalParameterPaths?: readonly string[];
  readonly branch: string;
  readonly codeCommit?: { readonly name: string; readonly arn: string };
  readonly gitHub?: { readonly owner: string; readonly repo: string; readonly webhookSecretName: string };
  /** null: no drift schedule. */
  readonly driftSchedule: string | null;
}

const field = (path: string) => events.EventField.fromPath(path);

export class KarmaTriggers extends Construct {
  readonly deadLetterQueue: sqs.Queue;
  readonly ssmRule: events.Rule;
  readonly gitRule?: events.Rule;
  readonly scheduleRule?: events.Rule;
  readonly failureRule: events.Rule;
  readonly bus?: events.EventBus;
  readonly webhook?: NodejsFunction;
  readonly webhookUrl?: lambda.FunctionUrl;
  readonly webhookSecret?: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: KarmaTriggersProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const start = (input: Record<string, unknown>) =>
      new targets.SfnStateMachine(props.stateMachine, {
        input: events.RuleTargetInput.fromObject(input),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 8,
        maxEventAge: Duration.hours(2),
      });

    this.ssmRule = new events.Rule(this, 'SsmChange', {
      description: `Karma: an output under ${props.parameterPrefix}/ or a consumed external parameter changed`,
      eventPattern: ssmChangePattern(props.parameterPrefix, props.externalParameterPaths ?? []) as events.EventPattern,
      targets: [start({ trigger: 'ssm-change', parameter: field('$.detail.name'), event: field('$') })],
    });

    if (props.codeCommit) {
      this.gitRule = new events.Rule(this, 'CodeCommitPush', {
        description: `Karma: push to ${props.codeCommit.name} ${props.branch}`,
        eventPattern: codeCommitPushPattern(props.codeCommit.arn, props.codeCommit.name, props.branch) as events.EventPattern,
        targets: [start({ trigger: 'git-push', ref: field('$.detail.referenceName'), commit: field('$.detail.commitId'), event: field('$') })],
      });
    }

    if (props.gitHub) {
      const gh = props.gitHub;
      const stack = Stack.of(this);
      this.bus = new events.EventBus(this, 'Bus', { eventBusName: `${stack.stackName}-karma` });
      this.webhookSecret = new secretsmanager.Secret(this, 'WebhookSecret', {
        secretName: gh.webhookSecretName,
        description: 'Karma: the GitHub webhook secret (paste the same value into the repository webhook settings)',
        generateSecretString: { passwordLength: 40, excludePunctuation: true },
      });
      this.webhook = karmaFunction(this, 'Webhook', {
        entry: join(REPO_ROOT, 'lambdas', 'webhook.ts'),
        description: 'Karma: GitHub push webhook (X-Hub-Signature-256 checked) relayed onto the Karma bus',
        timeout: Duration.seconds(10),
        memorySize: 256,
        environment: {
          KARMA_WEBHOOK_SECRET_ARN: this.webhookSecret.secretArn,
          KARMA_EVENT_BUS: this.bus.eventBusName,
          KARMA_GITHUB_REPOSITORY: `${gh.owner}/${gh.repo}`,
        },
      });
      this.webhookSecret.grantRead(this.webhook);
      this.webhook.addToRolePolicy(new iam.PolicyStatement({ actions: ['events:PutEvents'], resources: [this.bus.eventBusArn] }));
      // GitHub cannot sign AWS requests: the function URL is public and the handler checks GitHub's HMAC.
      this.webhookUrl = this.webhook.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
      this.gitRule = new events.Rule(this, 'GitHubPush', {
        description: `Karma: push to ${gh.owner}/${gh.repo} ${props.branch} (relayed by the webhook)`,
        eventBus: this.bus,
        eventPattern: gitHubPushPattern(gh.owner, gh.repo, props.branch) as events.EventPattern,
        targets: [start({ trigger: 'git-push', ref: props.branch, commit: field('$.detail.commit'), event: field('$') })],
      });
    }

    if (props.driftSchedule) {
      this.scheduleRule = new events.Rule(this, 'DriftSchedule', {
        description: 'Karma: scheduled drift check of every environment',
        schedule: events.Schedule.expression(props.driftSchedule),
        targets: [start({ trigger: 'schedule', mode: 'drift' })],
      });
    }

    this.failureRule = new events.Rule(this, 'ExecutionFailed', {
      description: 'Karma: a pipeline execution failed, timed out or was aborted',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [props.stateMachine.stateMachineArn] },
      },
      targets: [
        new targets.SnsTopic(props.topic, {
          message: events.RuleTargetInput.fromText(
            `Karma pipeline execution ${field('$.detail.name')} ${field('$.detail.status')}: ${field('$.detail.error')}: ${field('$.detail.cause')}`,
          ),
          deadLetterQueue: this.deadLetterQueue,
          retryAttempts: 8,
        }),
      ],
    });
  }
}
