/**
 * KarmaStack: the whole pipeline in one account and region, from validated settings (settings.ts).
 *
 *   KarmaNetwork   VPC, private subnets, VPC endpoints (NAT only when settings.natGateways > 0)
 *   NeptuneCluster Neptune serverless v2, IAM auth, encrypted; 8182 from Karma's Lambdas only
 *   KarmaPipeline  state machine from statemachines/pipeline.asl.json, step Lambdas, snapshot bucket,
 *                  one CodeBuild project and role per environment, SNS topic
 *   KarmaTriggers  EventBridge rules (SSM change, Git push, drift schedule, failures), dead-letter alarm, GitHub webhook
 *   KarmaApi       the HTTP API (settings.api; on by default): a function per route group, IAM or JWT auth,
 *                  throttled $default stage with access logs, the audit table, one invoke policy per role
 *   KarmaService   the long-running service (settings.service; off by default): `karma serve` on Fargate behind
 *                  an internal ALB, its DynamoDB table and the SQS queue of SSM change events (service.ts)
 *
 * cdk-nag (AwsSolutions) findings that stay are acknowledged in nag.ts, each with its reason.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { API_ROLES } from '../core/pipeline-contract.ts';
import { KarmaApi } from './api.ts';
import { NeptuneCluster, NEPTUNE_PORT } from './graph.ts';
import { acknowledgeFindings, type Acknowledgement } from './nag.ts';
import { KarmaNetwork } from './network.ts';
import { configGraphEnvironment, KarmaPipeline } from './pipeline.ts';
import { imageDirectory, KarmaService } from './service.ts';
import { configRepoUrl, type KarmaSettings } from './settings.ts';
import { KarmaTriggers } from './triggers.ts';

export interface KarmaStackProps extends StackProps {
  readonly settings: KarmaSettings;
}

export class KarmaStack extends Stack {
  readonly network: KarmaNetwork;
  readonly graph: NeptuneCluster;
  readonly pipeline: KarmaPipeline;
  readonly triggers: KarmaTriggers;
  /** The HTTP API; undefined when settings.api.enabled is false. */
  readonly api: KarmaApi | undefined;
  /** The long-running service; undefined unless settings.service.enabled. */
  readonly service: KarmaService | undefined;
  readonly settings: KarmaSettings;
  readonly acknowledgements: Acknowledgement[];
  private readonly zones: string[];

  /** Named from the settings, so the VPC never asks AWS (synth stays offline). */
  override get availabilityZones(): string[] {
    return this.zones;
  }

  constructor(scope: Construct, id: string, props: KarmaStackProps) {
    const s = props.settings;
    super(scope, id, { ...props, env: { account: s.account, region: s.region }, description: 'Karma: live dependency graph and ordered Terraform applies' });
    this.settings = s;
    this.zones = s.availabilityZones ?? [`${s.region}a`, `${s.region}b`];
    const codeCommit =
      'codecommit' in s.configRepo
        ? { name: s.configRepo.codecommit.name, arn: this.formatArn({ service: 'codecommit', resource: s.configRepo.codecommit.name }) }
        : undefined;
    const gitHub = 'github' in s.configRepo ? s.configRepo.github : undefined;

    this.network = new KarmaNetwork(this, 'Network', {
      natGateways: s.natGateways,
      codeCommit: codeCommit !== undefined,
      availabilityZones: this.zones,
    });
    this.graph = new NeptuneCluster(this, 'Graph', {
      vpc: this.network.vpc,
      subnets: this.network.subnets,
      clientSecurityGroup: this.network.clientSecurityGroup,
      minCapacity: s.neptune.minCapacity,
      maxCapacity: s.neptune.maxCapacity,
      instances: s.neptune.instances,
      engineVersion: s.neptune.engineVersion,
      backupRetentionDays: s.neptune.backupRetentionDays,
    });
    this.pipeline = new KarmaPipeline(this, 'Pipeline', {
      network: this.network,
      graph: this.graph,
      parameterPrefix: s.parameterPrefix,
      readableParameterPaths: s.readableParameterPaths,
      configUrl: configRepoUrl(s),
      ...(codeCommit ? { codeCommitRepositoryArn: codeCommit.arn } : {}),
      ...(gitHub?.tokenSecretName ? { gitHubTokenSecretName: gitHub.tokenSecretName } : {}),
      environments: s.environments,
      maxParallel: s.maxParallel,
      lockTtlSeconds: s.lockTtlSeconds,
      terraform: s.terraform,
      snapshotRetentionDays: s.snapshotRetentionDays,
      notificationEmails: s.notificationEmails,
    });
    this.triggers = new KarmaTriggers(this, 'Triggers', {
      stateMachine: this.pipeline.stateMachine,
      topic: this.pipeline.topic,
      topicKey: this.pipeline.key,
      parameterPrefix: s.parameterPrefix,
      externalParameterPaths: s.readableParameterPaths,
      branch: s.branch,
      driftSchedule: s.driftSchedule,
      ...(codeCommit ? { codeCommit } : {}),
      ...(gitHub ? { gitHub: { owner: gitHub.owner, repo: gitHub.repo, webhookSecretName: gitHub.webhookSecretName, reservedConcurrency: gitHub.reservedConcurrency } } : {}),
      accessLogsBucket: this.pipeline.accessLogsBucket,
    });
    this.api = s.api.enabled
      ? new KarmaApi(this, 'Api', {
          network: this.network,
          graph: this.graph,
          stateMachine: this.pipeline.stateMachine,
          key: this.pipeline.key,
          configEnvironment: configGraphEnvironment({ configUrl: configRepoUrl(s), gremlinUrl: this.graph.gremlinUrl, gitHubTokenSecretName: gitHub?.tokenSecretName }),
          runtimeRead: this.pipeline.runtimeRead,
          branch: s.branch,
          ...(codeCommit ? { codeCommitRepositoryArn: codeCommit.arn } : {}),
          ...(gitHub?.tokenSecretName ? { gitHubTokenSecretName: gitHub.tokenSecretName } : {}),
          auth: s.api.auth,
          throttle: s.api.throttle,
        })
      : undefined;
    // settings.ts refuses service.enabled without api.enabled: the audit table is the API's.
    this.service =
      s.service.enabled && this.api
        ? new KarmaService(this, 'Service', {
            network: this.network,
            graph: this.graph,
            stateMachine: this.pipeline.stateMachine,
            topic: this.pipeline.topic,
            key: this.pipeline.key,
            auditTable: this.api.auditTable,
            configEnvironment: configGraphEnvironment({ configUrl: configRepoUrl(s), gremlinUrl: this.graph.gremlinUrl, gitHubTokenSecretName: gitHub?.tokenSecretName }),
            runtimeRead: this.pipeline.runtimeRead,
            parameterPrefix: s.parameterPrefix,
            readableParameterPaths: s.readableParameterPaths,
            branch: s.branch,
            ...(codeCommit ? { codeCommitRepositoryArn: codeCommit.arn } : {}),
            ...(gitHub?.tokenSecretName ? { gitHubTokenSecretName: gitHub.tokenSecretName } : {}),
            eventsDeadLetterQueue: this.triggers.deadLetterQueue,
            accessLogsBucket: this.pipeline.accessLogsBucket,
            cpu: s.service.cpu,
            memory: s.service.memory,
            desiredCount: s.service.desiredCount,
            image: s.service.image ?? { directory: imageDirectory(s.service.imageDirectory) },
            ...(s.service.certificateArn ? { certificateArn: s.service.certificateArn } : {}),
            logRetentionDays: s.service.logRetentionDays,
          })
        : undefined;

    new CfnOutput(this, 'StateMachineArn', { value: this.pipeline.stateMachine.stateMachineArn, description: 'aws stepfunctions start-execution --state-machine-arn ...' });
    new CfnOutput(this, 'NeptuneEndpoint', { value: this.graph.gremlinUrl, description: 'KARMA_NEPTUNE_ENDPOINT (reachable from inside the VPC only)' });
    // What a CLI needs to reach Neptune: it is in the VPC's private subnets, port 8182 admits only the client
    // security group, and IAM auth needs neptune-db actions on the cluster resource id (docs/deploy.md).
    new CfnOutput(this, 'NeptuneHost', { value: this.graph.cluster.attrEndpoint, description: 'Neptune cluster (writer) endpoint host' });
    new CfnOutput(this, 'NeptunePort', { value: String(NEPTUNE_PORT), description: 'Gremlin over wss' });
    new CfnOutput(this, 'NeptuneClientSecurityGroupId', {
      value: this.network.clientSecurityGroup.securityGroupId,
      description: 'the only security group Neptune admits on 8182: attach it to the machine (in this VPC) that runs the CLI or the SSM port forward',
    });
    new CfnOutput(this, 'VpcId', { value: this.network.vpc.vpcId });
    new CfnOutput(this, 'PrivateSubnetIds', { value: this.network.vpc.selectSubnets(this.network.subnets).subnetIds.join(','), description: 'subnets to run that machine in' });
    new CfnOutput(this, 'NeptuneDataArn', { value: this.graph.dataArn, description: 'IAM resource for neptune-db:connect/ReadDataViaQuery/... (KARMA_NEPTUNE_IAM_AUTH=true)' });
    new CfnOutput(this, 'NotificationTopicArn', { value: this.pipeline.topic.topicArn });
    new CfnOutput(this, 'SnapshotBucket', { value: this.pipeline.snapshotBucket.bucketName });
    new CfnOutput(this, 'TerraformStateBucket', { value: this.pipeline.stateBucket.bucketName, description: 'Terraform state, <env>/<component>/terraform.tfstate (docs/state.md)' });
    new CfnOutput(this, 'CodeBuildProjectPrefix', { value: this.pipeline.projectPrefix, description: 'each environment has its own CodeBuild project <prefix>-<env>' });
    for (const [env, role] of Object.entries(this.pipeline.applyRoles)) {
      new CfnOutput(this, `ApplyRoleArn-${env}`, { value: role.roleArn, description: `the role CodeBuild runs ${env}'s builds as: ${env}'s deploy role must trust it (sts:AssumeRole)` });
      new CfnOutput(this, `ApplyProject-${env}`, { value: this.pipeline.projects[env]!.projectName, description: `CodeBuild project of ${env}` });
    }
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.triggers.deadLetterQueue.queueUrl });
    if (this.triggers.webhookUrl) new CfnOutput(this, 'GitHubWebhookUrl', { value: this.triggers.webhookUrl.url, description: 'GitHub: Settings > Webhooks > Payload URL (content type application/json, push events)' });
    if (this.triggers.webhookSecret) new CfnOutput(this, 'GitHubWebhookSecretArn', { value: this.triggers.webhookSecret.secretArn });
    if (this.api) {
      new CfnOutput(this, 'ApiUrl', { value: this.api.url, description: 'the Karma HTTP API (SigV4-signed requests with IAM auth; docs/deploy.md "The HTTP API")' });
      for (const role of API_ROLES) {
        const name = `${role[0]!.toUpperCase()}${role.slice(1)}`;
        new CfnOutput(this, `Api${name}PolicyArn`, { value: this.api.rolePolicies[role].managedPolicyArn, description: `attach to the users and roles that hold the API role ${role}` });
      }
      new CfnOutput(this, 'AuditTableName', { value: this.api.auditTable.tableName, description: 'the audit log (change requests and applies)' });
    }

    if (this.service) {
      new CfnOutput(this, 'ServiceLoadBalancerDns', { value: this.service.loadBalancer.loadBalancerDnsName, description: 'the Karma service\'s internal ALB (reachable inside the VPC only)' });
      new CfnOutput(this, 'ServiceUrl', { value: this.service.url, description: 'karma --api URL (with $KARMA_API_TOKEN); docs/deploy-service.md' });
      new CfnOutput(this, 'ServiceAdminTokenSecretArn', { value: this.service.adminToken.secretArn, description: 'the service\'s admin bearer token (KARMA_API_TOKEN)' });
      new CfnOutput(this, 'ServiceTableName', { value: this.service.table.tableName, description: 'the service\'s change queue, rollouts and failed deliveries (KARMA_SERVICE_TABLE)' });
      new CfnOutput(this, 'ServiceSsmEventsQueueUrl', { value: this.service.ssmEvents.queueUrl, description: 'SSM change events the live graph follows (KARMA_SSM_EVENTS_QUEUE_URL)' });
      new CfnOutput(this, 'ServiceLogGroup', { value: this.service.logGroup.logGroupName, description: 'the service\'s JSON log lines' });
    }

    this.acknowledgements = acknowledgeFindings(this);
  }
}
