/**
 * KarmaTriggers: what starts the state machine, each through an EventBridge rule whose target passes
 * {trigger, ...key fields, event} (input transformer), retries, and dead-letters into one encrypted queue.
 *
 *   ssm-change  Parameter Store Change under `<prefix>/`, not written by Karma (lib/core/pipeline-contract.ts)
 *   git-push    CodeCommit referenceCreated/Updated on the tracked branch, or a GitHub push relayed by the
 *               webhook Lambda (function URL, signature checked) onto the Karma event bus
 *   schedule    drift checks (mode drift)
 * Plus the failure route: Step Functions execution FAILED / TIMED_OUT / ABORTED → SNS, and an alarm on the
 * dead-letter queue (a message visible → SNS). The webhook has reserved concurrency and refuses replays.
 */
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwactions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { codeCommitPushPattern, DELIVERY_RETENTION_DAYS, gitHubPushPattern, ssmChangePattern } from '../core/pipeline-contract.ts';
import { karmaFunction, REPO_ROOT } from './pipeline.ts';
import { join } from 'node:path';

export interface KarmaTriggersProps {
  readonly stateMachine: sfn.IStateMachine;
  readonly topic: sns.ITopic;
  /** The topic's KMS key: CloudWatch (the dead-letter alarm) gets GenerateDataKey and Decrypt on it. @default - an unencrypted topic */
  readonly topicKey?: kms.IKey;
  readonly parameterPrefix: string;
  /** Parameters outside the prefix that configs consume with ${ssm:...}: a change to them is a real change. @default none */
  readonly externalParameterPaths?: readonly string[];
  readonly branch: string;
  readonly codeCommit?: { readonly name: string; readonly arn: string };
  readonly gitHub?: {
    readonly owner: string;
    readonly repo: string;
    readonly webhookSecretName: string;
    /** Reserved concurrency of the webhook function. @default 5 */
    readonly reservedConcurrency?: number;
  };
  /** Where the webhook's delivery bucket writes its server access logs. @default - no access logs */
  readonly accessLogsBucket?: s3.IBucket;
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
  /** The role the failure rule publishes to the topic with (no service-principal grant on topic or key). */
  readonly failureNotifyRole: iam.Role;
  readonly bus?: events.EventBus;
  readonly webhook?: NodejsFunction;
  readonly webhookUrl?: lambda.FunctionUrl;
  readonly webhookSecret?: secretsmanager.Secret;
  /** Relayed GitHub deliveries (`deliveries/<body sha256>`), kept DELIVERY_RETENTION_DAYS: replays are refused. */
  readonly deliveryBucket?: s3.Bucket;
  /** ApproximateNumberOfMessagesVisible > 0 on the dead-letter queue → the topic. */
  readonly deadLetterAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: KarmaTriggersProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const stack = Stack.of(this);
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
      this.bus = new events.EventBus(this, 'Bus', { eventBusName: `${stack.stackName}-karma` });
      this.webhookSecret = new secretsmanager.Secret(this, 'WebhookSecret', {
        secretName: gh.webhookSecretName,
        description: 'Karma: the GitHub webhook secret (paste the same value into the repository webhook settings)',
        generateSecretString: { passwordLength: 40, excludePunctuation: true },
      });
      this.deliveryBucket = new s3.Bucket(this, 'WebhookDeliveries', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        lifecycleRules: [{ expiration: Duration.days(DELIVERY_RETENTION_DAYS), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
        ...(props.accessLogsBucket ? { serverAccessLogsBucket: props.accessLogsBucket, serverAccessLogsPrefix: 'webhook-deliveries/' } : {}),
        removalPolicy: RemovalPolicy.DESTROY,
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
          KARMA_DELIVERY_BUCKET: this.deliveryBucket.bucketName,
        },
      });
      // Public URL: bound what a flood can take from the account's Lambda concurrency (and from the bus).
      (this.webhook.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = gh.reservedConcurrency ?? 5;
      // Claim (conditional create) and release (after a failed relay) of deliveries/<sha256>; nothing else.
      this.webhook.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:DeleteObject'], resources: [this.deliveryBucket.arnForObjects('deliveries/*')] }));
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

    // A trigger that could not start the pipeline waits in the queue (14 days): say so at once.
    const alarmName = `${Stack.of(this).stackName}-dead-letters`;
    this.deadLetterAlarm = new cloudwatch.Alarm(this, 'DeadLettersAlarm', {
      alarmName,
      alarmDescription: 'Karma: an EventBridge trigger could not start the pipeline (or notify) and sits in the dead-letter queue; inspect and redrive it',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.deadLetterAlarm.addAlarmAction(new cwactions.SnsAction(props.topic));
    // CloudWatch publishes as its service principal: this alarm of this account only (confused deputy).
    const fromAlarm = { StringEquals: { 'aws:SourceAccount': stack.account }, ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: alarmName, arnFormat: ArnFormat.COLON_RESOURCE_NAME }) } };
    const cw = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    props.topic.addToResourcePolicy(new iam.PolicyStatement({ principals: [cw], actions: ['sns:Publish'], resources: [props.topic.topicArn], conditions: fromAlarm }));
    props.topicKey?.addToResourcePolicy(new iam.PolicyStatement({ principals: [cw], actions: ['kms:GenerateDataKey*', 'kms:Decrypt'], resources: ['*'], conditions: fromAlarm }));

    this.failureNotifyRole = new iam.Role(this, 'FailureNotifyRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
      description: 'Karma: EventBridge publishes failed executions to the notification topic',
    });
    this.failureRule = new events.Rule(this, 'ExecutionFailed', {
      description: 'Karma: a pipeline execution failed, timed out or was aborted',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [props.stateMachine.stateMachineArn] },
      },
      targets: [
        // Published through a role (no events.amazonaws.com grant on the topic or the key): grantPublish gives it
        // sns:Publish on this topic and kms:GenerateDataKey*/Decrypt on its key.
        new targets.SnsTopic(props.topic, {
          authorizeUsingRole: true,
          role: this.failureNotifyRole,
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
