/**
 * KarmaService: the long-running service (`karma serve`, issue 13) on Fargate, behind an internal ALB. Created by
 * KarmaStack only when settings.service.enabled (settings.ts); docs/deploy-service.md is the operator's guide.
 *
 *   ECS cluster      Container Insights on
 *   task definition  Fargate, ARM64, one container from the repository's Dockerfile (an image asset: `cdk synth`
 *                    only stages the build context, `cdk deploy` builds and pushes it) or from a pushed ECR image
 *                    (settings.service.image), read-only root filesystem,
 *                    user 10001, ephemeral volumes for /tmp and /home/karma/.karma (the only writable paths),
 *                    stopTimeout 120 s (SIGTERM, then the service stops taking work and finishes or hands back the
 *                    running apply), awslogs (the service logs JSON lines), KARMA_API_TOKEN from Secrets Manager
 *   service          one task (one live graph: see settings.service.desiredCount), never two at once during a
 *                    deployment (minHealthy 0 / maxHealthy 100), circuit breaker with rollback
 *   internal ALB     HTTPS with settings.service.certificateArn, else HTTP; admits the VPC's CIDR only; health
 *                    check GET /readyz (graph loaded, not stopping); deregistration delay = stopTimeout; access logs
 *   service table    DynamoDB pk (S) + sk (S): the change queue, rollouts, failed deliveries (KARMA_SERVICE_TABLE);
 *                    on demand, PITR, Karma's KMS key, retained, deletion protection (like the audit table)
 *   SSM change feed  EventBridge "Parameter Store Change" under `<prefix>/` (and the readable paths) → an SQS queue
 *                    (SSE, TLS only, its own dead-letter queue) the live graph follows (KARMA_SSM_EVENTS_QUEUE_URL)
 *
 * IAM is computed here, least privilege: the task role gets what the API's `changes` function gets (runtime reads,
 * Git pull/push, the audit table, StartExecution/DescribeExecution) plus graph writes (the live graph syncs to
 * Neptune), state parameter writes (`<prefix>/<env>/<component>/state`, as PlanWave), its table, its queue and
 * the topic. The execution role pulls the image, writes the log stream and reads the token secret.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { durableTable } from './tables.ts';
import type { EventPatternJson } from '../core/pipeline-contract.ts';
import { AUDIT_BY_CHANGE_INDEX } from './api.ts';
import { NEPTUNE_PORT, type NeptuneCluster } from './graph.ts';
import { REPO_ROOT } from './pipeline.ts';

/** The port `karma serve` listens on in the container (its default, lib/cli/commands/serve.ts). */
export const SERVICE_PORT = 7070;
/** The service table's keys (the DynamoDB service store writes them). */
export const SERVICE_TABLE_KEYS = { partition: 'pk', sort: 'sk' } as const;
/** The user the image runs as (Dockerfile `USER`): not root. */
export const SERVICE_USER = '10001:10001';
/** ECS waits this long after SIGTERM before SIGKILL (Fargate's maximum). */
export const STOP_TIMEOUT_SECONDS = 120;
/** The image's writable paths: ephemeral task storage, everything else is read-only. */
export const SERVICE_HOME = '/home/karma/.karma';
export const WRITABLE_PATHS = { tmp: '/tmp', work: SERVICE_HOME } as const;
/** GET /readyz: 200 once the live graph is loaded, 503 before that and while stopping. */
export const READINESS_PATH = '/readyz';
/** GET /healthz: the process answers (liveness; the container health check). */
export const LIVENESS_PATH = '/healthz';

/**
 * The events the live graph follows: every change under `<prefix>/` (outputs AND state: an apply recorded by
 * CodeBuild moves a status) and of the parameters configs read with ${ssm:...}. Karma's own locks
 * (`<prefix>-locks/`) do not match `<prefix>/`.
 */
export function serviceSsmEventsPattern(parameterPrefix: string, externalPaths: readonly string[] = []): EventPatternJson {
  return {
    source: ['aws.ssm'],
    'detail-type': ['Parameter Store Change'],
    detail: { name: [{ prefix: `${parameterPrefix}/` }, ...externalPaths.map((p) => ({ prefix: p }))] },
  };
}

/** The container's health check command: Node's fetch against /healthz (the image has no curl). */
export function livenessCommand(port = SERVICE_PORT): string[] {
  return ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${port}${LIVENESS_PATH}').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))`];
}

/** Where the Dockerfile is: settings.service.imageDirectory (relative to the app's directory) or the repository root. */
export function imageDirectory(setting: string | undefined, baseDir = process.cwd()): string {
  const dir = setting === undefined ? REPO_ROOT : isAbsolute(setting) ? setting : resolve(baseDir, setting);
  if (!existsSync(join(dir, 'Dockerfile'))) {
    throw new Error(`karma settings: service.imageDirectory: ${dir} has no Dockerfile: point it at the directory holding Karma's Dockerfile (default: the repository root)`);
  }
  return dir;
}

export interface KarmaServiceProps {
  readonly network: { readonly vpc: ec2.IVpc; readonly subnets: ec2.SubnetSelection };
  readonly graph: NeptuneCluster;
  readonly stateMachine: sfn.IStateMachine;
  readonly topic: sns.ITopic;
  /** Karma's customer managed key: the service table is encrypted with it, as the audit table. */
  readonly key: kms.IKey;
  /** The HTTP API's audit table: the service appends change requests and applies to the same log. */
  readonly auditTable: dynamodb.ITable;
  /** configGraphEnvironment (pipeline.ts): config repo, runtime store, Neptune. */
  readonly configEnvironment: Readonly<Record<string, string>>;
  /** The runtime store read grant shared with the pipeline and the API. */
  readonly runtimeRead: iam.PolicyStatement;
  readonly parameterPrefix: string;
  readonly readableParameterPaths: readonly string[];
  readonly branch: string;
  readonly codeCommitRepositoryArn?: string;
  readonly gitHubTokenSecretName?: string;
  /** Where EventBridge puts events it could not deliver to the queue (the triggers' dead-letter queue). */
  readonly eventsDeadLetterQueue: sqs.IQueue;
  /** Where the ALB writes its access logs (prefix `service-alb/`). */
  readonly accessLogsBucket: s3.IBucket;
  readonly cpu: number;
  readonly memory: number;
  readonly desiredCount: number;
  /** Where the image comes from: the Dockerfile's directory (built by `cdk deploy`) or a pushed ECR image. */
  readonly image: { readonly directory: string } | { readonly repository: string; readonly tag: string };
  readonly certificateArn?: string;
  readonly logRetentionDays: number;
}

const RETENTION: Readonly<Record<number, logs.RetentionDays>> = {
  30: logs.RetentionDays.ONE_MONTH,
  90: logs.RetentionDays.THREE_MONTHS,
  180: logs.RetentionDays.SIX_MONTHS,
  365: logs.RetentionDays.ONE_YEAR,
};

export class KarmaService extends Construct {
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly service: ecs.FargateService;
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  readonly listener: elbv2.ApplicationListener;
  readonly targetGroup: elbv2.ApplicationTargetGroup;
  readonly table: dynamodb.Table;
  readonly ssmEvents: sqs.Queue;
  readonly ssmEventsDeadLetters: sqs.Queue;
  readonly ssmRule: events.Rule;
  /** The admin bearer token (KARMA_API_TOKEN), generated. */
  readonly adminToken: secretsmanager.Secret;
  readonly logGroup: logs.LogGroup;
  readonly securityGroup: ec2.SecurityGroup;
  readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  /** http(s)://<ALB DNS name> (reachable inside the VPC only). */
  readonly url: string;
  /** The task's environment (names and values; the secret is not in it). */
  readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: KarmaServiceProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { vpc, subnets } = props.network;

    // --- the service table: queue, rollouts, failed deliveries (one table, keys chosen by the store)
    this.table = durableTable(this, 'Table', SERVICE_TABLE_KEYS, props.key);

    // --- the SSM change feed: EventBridge → SQS (SSE-SQS: EventBridge needs no grant on a customer key)
    this.ssmEventsDeadLetters = new sqs.Queue(this, 'SsmEventsDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.ssmEvents = new sqs.Queue(this, 'SsmEvents', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // A restarted service reloads the whole graph, so an old event is worth nothing after a day.
      retentionPeriod: Duration.days(1),
      visibilityTimeout: Duration.seconds(60),
      deadLetterQueue: { queue: this.ssmEventsDeadLetters, maxReceiveCount: 5 },
    });
    this.ssmRule = new events.Rule(this, 'SsmChange', {
      description: `Karma service: a parameter under ${props.parameterPrefix}/ (or a readable path) changed; the live graph follows it`,
      eventPattern: serviceSsmEventsPattern(props.parameterPrefix, props.readableParameterPaths) as events.EventPattern,
      targets: [new targets.SqsQueue(this.ssmEvents, { deadLetterQueue: props.eventsDeadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(2) })],
    });

    // --- the admin token (KARMA_API_TOKEN), injected by ECS; never in the template or the environment
    this.adminToken = new secretsmanager.Secret(this, 'AdminToken', {
      description: 'Karma service: the admin bearer token (KARMA_API_TOKEN; every role). Callers send Authorization: Bearer <value>',
      encryptionKey: props.key,
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });

    // --- what an isolated VPC needs for a Fargate task: image pulls, logs, the secret, the queue
    // (S3 gateway, SSM and SNS come with the network; DynamoDB and Step Functions with the API).
    const endpoints: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
      EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
      EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
      Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      Sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
    };
    for (const [name, service] of Object.entries(endpoints)) {
      if (!vpc.node.tryFindChild(name)) vpc.addInterfaceEndpoint(name, { service, subnets, privateDnsEnabled: true });
    }

    // --- security groups: ALB from the VPC's CIDR only; the task from the ALB only; the task → Neptune
    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'AlbSg', {
      vpc,
      description: 'Karma service ALB: the listener from the VPC CIDR only; out to the service tasks only',
      allowAllOutbound: false,
    });
    this.securityGroup = new ec2.SecurityGroup(this, 'TaskSg', {
      vpc,
      description: `Karma service tasks: ${SERVICE_PORT} from the ALB only; out to VPC endpoints, Neptune, Git`,
      allowAllOutbound: true,
    });
    props.graph.securityGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(NEPTUNE_PORT), 'Gremlin from the Karma service');

    // --- cluster, task, container
    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memory,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.ARM64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: RETENTION[props.logRetentionDays] ?? logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.RETAIN });

    const gitToken = props.gitHubTokenSecretName ? secretsmanager.Secret.fromSecretNameV2(this, 'GitHubToken', props.gitHubTokenSecretName) : undefined;
    this.environment = {
      ...props.configEnvironment,
      // Writable: /tmp and the work volume only (the root filesystem is read-only).
      HOME: SERVICE_HOME,
      TMPDIR: WRITABLE_PATHS.tmp,
      KARMA_HISTORY_DIR: `${SERVICE_HOME}/history`,
      KARMA_WORK_DIR: `${SERVICE_HOME}/work`,
      KARMA_API_WORK_DIR: `${SERVICE_HOME}/api`,
      KARMA_SNAPSHOTS: `${SERVICE_HOME}/snapshots`,
      KARMA_CONFIG_BRANCH: props.branch,
      KARMA_AUDIT_TABLE: props.auditTable.tableName,
      KARMA_STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
      KARMA_NOTIFY_TOPIC_ARN: props.topic.topicArn,
      KARMA_SERVICE_TABLE: this.table.tableName,
      KARMA_SSM_EVENTS_QUEUE_URL: this.ssmEvents.queueUrl,
      AWS_REGION: stack.region,
      // The heap gets three quarters of the task's memory: the live graph lives there.
      NODE_OPTIONS: `--enable-source-maps --max-old-space-size=${Math.floor(props.memory * 0.75)}`,
    };
    this.container = this.taskDefinition.addContainer('karma', {
      image:
        'directory' in props.image
          ? ecs.ContainerImage.fromAsset(props.image.directory, { platform: Platform.LINUX_ARM64 })
          : ecs.ContainerImage.fromEcrRepository(ecr.Repository.fromRepositoryName(this, 'Repository', props.image.repository), props.image.tag),
      command: ['serve', '--host', '0.0.0.0', '--port', String(SERVICE_PORT)],
      user: SERVICE_USER,
      readonlyRootFilesystem: true,
      stopTimeout: Duration.seconds(STOP_TIMEOUT_SECONDS),
      portMappings: [{ containerPort: SERVICE_PORT, protocol: ecs.Protocol.TCP }],
      environment: this.environment,
      secrets: { KARMA_API_TOKEN: ecs.Secret.fromSecretsManager(this.adminToken) },
      healthCheck: {
        command: livenessCommand(),
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        // Liveness only: the process answers /healthz before the graph is loaded.
        startPeriod: Duration.seconds(60),
      },
      logging: ecs.LogDrivers.awsLogs({
        streamPrefix: 'karma',
        logGroup: this.logGroup,
        // A slow CloudWatch never blocks the service's stdout; 25 MiB of lines are buffered.
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: Size.mebibytes(25),
      }),
    });
    for (const [name, path] of Object.entries(WRITABLE_PATHS)) {
      this.taskDefinition.addVolume({ name });
      this.container.addMountPoints({ sourceVolume: name, containerPath: path, readOnly: false });
    }

    // --- the task role: least privilege
    const role = this.taskDefinition.taskRole;
    const param = (path: string) => stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: path.replace(/^\//, '') });
    role.addToPrincipalPolicy(props.runtimeRead);
    // A component whose apply died without a result is recorded failed: state parameters only (as PlanWave).
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ssm:PutParameter'], resources: [param(`${props.parameterPrefix}/*/state`)] }));
    props.graph.grantReadWrite(role);
    this.table.grant(role, 'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem');
    props.key.grant(role, 'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey');
    // The audit log: append and read, as the API's changes function (never update nor delete).
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: [props.auditTable.tableArn, `${props.auditTable.tableArn}/index/${AUDIT_BY_CHANGE_INDEX.name}`] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [props.auditTable.tableArn] }));
    this.ssmEvents.grantConsumeMessages(role);
    props.stateMachine.grantStartExecution(role);
    props.stateMachine.grantExecution(role, 'states:DescribeExecution');
    props.topic.grantPublish(role);
    if (gitToken) gitToken.grantRead(role);
    if (props.codeCommitRepositoryArn) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['codecommit:GitPull'], resources: [props.codeCommitRepositoryArn] }));
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['codecommit:GitPush'],
          resources: [props.codeCommitRepositoryArn],
          conditions: { 'ForAllValues:StringLike': { 'codecommit:References': ['refs/heads/karma/proposals/*', `refs/heads/${props.branch}`] } },
        }),
      );
    }

    // --- the service: one task, never two at once (stop the old, then start the new)
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: props.desiredCount,
      vpcSubnets: subnets,
      securityGroups: [this.securityGroup],
      assignPublicIp: false,
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      circuitBreaker: { enable: true, rollback: true },
      // Loading the graph reads the whole runtime store (≥ 25 s for 10,000 parameters at SSM's default quota).
      healthCheckGracePeriod: Duration.minutes(5),
      enableExecuteCommand: false,
    });

    // --- the internal ALB
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      vpcSubnets: subnets,
      internetFacing: false,
      securityGroup: this.loadBalancerSecurityGroup,
      dropInvalidHeaderFields: true,
      // GET /events is a long-lived stream: an idle connection is closed after this.
      idleTimeout: Duration.seconds(120),
    });
    this.loadBalancer.logAccessLogs(props.accessLogsBucket, 'service-alb');
    const https = props.certificateArn !== undefined;
    const port = https ? 443 : 80;
    this.loadBalancerSecurityGroup.addIngressRule(ec2.Peer.ipv4(vpc.vpcCidrBlock), ec2.Port.tcp(port), `Karma service from inside the VPC (${https ? 'HTTPS' : 'HTTP'})`);
    this.listener = this.loadBalancer.addListener(https ? 'Https' : 'Http', {
      port,
      protocol: https ? elbv2.ApplicationProtocol.HTTPS : elbv2.ApplicationProtocol.HTTP,
      open: false,
      ...(https ? { certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn!)], sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS } : {}),
    });
    this.targetGroup = this.listener.addTargets('Service', {
      port: SERVICE_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [this.service],
      // Draining lasts as long as the task's graceful stop, so no request is cut while it finishes.
      deregistrationDelay: Duration.seconds(STOP_TIMEOUT_SECONDS),
      healthCheck: {
        path: READINESS_PATH,
        healthyHttpCodes: '200',
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });
    this.url = `${https ? 'https' : 'http'}://${this.loadBalancer.loadBalancerDnsName}`;
  }
}
