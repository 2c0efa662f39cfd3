/**
 * The long-running service (lib/infra/service.ts, settings.service): absent by default; when enabled, the
 * synthesized template has the Fargate task as the image needs it (read-only root filesystem, non-root user,
 * writable volumes, stopTimeout), the internal ALB checking /readyz, the retained service table, the SSM change
 * queue with its EventBridge rule (the pattern matched by moto's EventBridge against sample events), a task role
 * scoped to Karma's resources, and no unacknowledged cdk-nag finding. `cdk synth` stages the image's build
 * context without Docker (there is none on these machines): the staged asset is checked too.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateEventBusCommand, EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PORT } from '../../lib/cli/commands/serve.ts';
import { karmaApp } from '../../lib/infra/app.ts';
import { READINESS_PATH, SERVICE_HOME, SERVICE_PORT, SERVICE_USER, serviceSsmEventsPattern, STOP_TIMEOUT_SECONDS } from '../../lib/infra/service.ts';
import { parseSettings, SettingsError, type KarmaSettingsInput } from '../../lib/infra/settings.ts';
import { startMotoServer, type MotoServer } from '../../scripts/servers/servers.ts';
import { CODECOMMIT_SETTINGS, GITHUB_SETTINGS, synth, type Synthesized } from './helpers.ts';

type Json = Record<string, unknown>;
const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e';
const GITHUB_PRIVATE: KarmaSettingsInput = {
  ...GITHUB_SETTINGS,
  configRepo: { github: { owner: 'acme', repo: 'infra-config', tokenSecretName: 'karma/github-token' } },
  readableParameterPaths: ['/shared/network'],
};

let off: Synthesized;
let cc: Synthesized;
let gh: Synthesized;
let pushed: Synthesized;

beforeAll(() => {
  off = synth(CODECOMMIT_SETTINGS);
  // nag: true: the synth throws on any unacknowledged cdk-nag finding.
  cc = synth({ ...CODECOMMIT_SETTINGS, service: { enabled: true } }, { nag: true });
  gh = synth({ ...GITHUB_PRIVATE, service: { enabled: true, cpu: 2048, memory: 8192, certificateArn: CERT } }, { nag: true });
  pushed = synth({ ...CODECOMMIT_SETTINGS, service: { enabled: true, image: { repository: 'karma/service', tag: '1.4.0' } } }, { nag: true });
}, 240_000);

const props = (r: Json) => r['Properties'] as Json;
function resources(s: Synthesized, type: string): [string, Json][] {
  return Object.entries(s.template.findResources(type)) as [string, Json][];
}
function only(s: Synthesized, type: string): Json {
  const found = resources(s, type);
  expect(found, type).toHaveLength(1);
  return found[0]![1];
}
const logicalId = (s: Synthesized, c: { node: { defaultChild?: unknown } } | object): string =>
  s.stack.getLogicalId(((c as { node: { defaultChild?: unknown } }).node.defaultChild ?? c) as never);
function container(s: Synthesized): Json {
  const defs = props(only(s, 'AWS::ECS::TaskDefinition'))['ContainerDefinitions'] as Json[];
  expect(defs).toHaveLength(1);
  return defs[0]!;
}
function environment(s: Synthesized): Record<string, unknown> {
  return Object.fromEntries((container(s)['Environment'] as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]));
}
/** The statements of the policy attached to a role (by the role's logical id). */
function statementsOfRole(s: Synthesized, roleId: string): Json[] {
  return resources(s, 'AWS::IAM::Policy')
    .filter(([, p]) => JSON.stringify(props(p)['Roles']).includes(`"${roleId}"`))
    .flatMap(([, p]) => (props(p)['PolicyDocument'] as { Statement: Json[] }).Statement);
}
const list = (v: unknown): unknown[] => ([] as unknown[]).concat(v);

describe('settings.service', () => {
  it('is off by default: no ECS, no load balancer, no service table or outputs', () => {
    expect(parseSettings(CODECOMMIT_SETTINGS).service).toEqual({ enabled: false, cpu: 1024, memory: 2048, desiredCount: 1, logRetentionDays: 90 });
    expect(off.stack.service).toBeUndefined();
    const types = Object.values(off.template.toJSON()['Resources'] as Record<string, { Type: string }>).map((r) => r.Type);
    expect(types.filter((t) => t.startsWith('AWS::ECS::') || t.startsWith('AWS::ElasticLoadBalancingV2::'))).toEqual([]);
    expect(Object.keys(off.template.findOutputs('*')).filter((k) => k.startsWith('Service'))).toEqual([]);
  });

  it.each([
    [{ api: { enabled: false }, service: { enabled: true } }, /^karma settings: service\.enabled: the service needs api\.enabled: it writes the audit table/],
    [{ service: { enabled: true, cpu: 300 } }, /^karma settings: service\.cpu: must be a Fargate CPU size: 256, 512, 1024/],
    [{ service: { cpu: 1024, memory: 1024 } }, /^karma settings: service\.memory: with cpu 1024, Fargate allows 2048 to 8192 MiB in steps of 1024/],
    [{ service: { cpu: 2048, memory: 5000 } }, /^karma settings: service\.memory: with cpu 2048, Fargate allows 4096 to 16384 MiB in steps of 1024/],
    [{ service: { desiredCount: 2 } }, /^karma settings: service\.desiredCount: must be 0 or 1: one instance keeps one live graph/],
    [{ service: { certificateArn: 'arn:aws:iam::123456789012:server-certificate/x' } }, /^karma settings: service\.certificateArn: must be an ACM certificate ARN/],
    [{ service: { logRetentionDays: 7 } }, /^karma settings: service\.logRetentionDays: must be 30, 90, 180 or 365/],
    [{ service: { enable: true } }, /^karma settings: service: unknown key "enable": remove it or fix its spelling/],
    [{ service: { image: { repository: 'Karma Service', tag: '1' } } }, /^karma settings: service\.image\.repository: must be an ECR repository name/],
    [{ service: { image: { repository: 'karma', tag: 'sha256:abc' } } }, /^karma settings: service\.image\.tag: must be an image tag \(e\.g\. 1\.4\.0\) or a digest/],
    [{ service: { image: { repository: 'karma', tag: '1' }, imageDirectory: '.' } }, /^karma settings: service\.image: give image \(a pre-built image\) or imageDirectory \(built at deploy time\), not both/],
  ])('invalid %j fails with one line naming the key', (patch, expected) => {
    let message = '';
    try {
      parseSettings({ ...CODECOMMIT_SETTINGS, ...patch });
    } catch (error) {
      expect(error).toBeInstanceOf(SettingsError);
      message = (error as Error).message;
    }
    expect(message).toMatch(expected);
    expect(message.split('\n')).toHaveLength(1);
  });

  it('an imageDirectory without a Dockerfile fails the synth with one line naming the setting', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'karma-cdk-'));
    expect(() => karmaApp({ outdir, nag: false, context: { karma: { ...CODECOMMIT_SETTINGS, service: { enabled: true, imageDirectory: 'docs' } }, 'aws:cdk:bundling-stacks': [] } })).toThrow(
      /^karma settings: service\.imageDirectory: .*\/docs has no Dockerfile: point it at the directory holding Karma's Dockerfile/,
    );
  });
});

describe('the Fargate task', () => {
  it('runs the image read-only, as user 10001, with /tmp and the work directory on task storage, stopping within 120 s', () => {
    const c = container(cc);
    expect(c['ReadonlyRootFilesystem']).toBe(true);
    expect(c['User']).toBe(SERVICE_USER);
    expect(SERVICE_USER.split(':')[0]).not.toBe('0');
    expect(c['StopTimeout']).toBe(120);
    expect(c['Command']).toEqual(['serve', '--host', '0.0.0.0', '--port', String(SERVICE_PORT)]);
    expect(SERVICE_PORT).toBe(DEFAULT_PORT);
    expect(c['PortMappings']).toEqual([{ ContainerPort: SERVICE_PORT, Protocol: 'tcp' }]);
    expect(c['MountPoints']).toEqual(
      expect.arrayContaining([
        { ContainerPath: '/tmp', ReadOnly: false, SourceVolume: 'tmp' },
        { ContainerPath: SERVICE_HOME, ReadOnly: false, SourceVolume: 'work' },
      ]),
    );
    const task = props(only(cc, 'AWS::ECS::TaskDefinition'));
    // A volume with no host and no EFS: Fargate ephemeral task storage.
    expect(task['Volumes']).toEqual([{ Name: 'tmp' }, { Name: 'work' }]);
    expect(task['RequiresCompatibilities']).toEqual(['FARGATE']);
    expect(task['RuntimePlatform']).toEqual({ CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
    expect([task['Cpu'], task['Memory']]).toEqual(['1024', '2048']);
    expect([props(only(gh, 'AWS::ECS::TaskDefinition'))['Cpu'], props(only(gh, 'AWS::ECS::TaskDefinition'))['Memory']]).toEqual(['2048', '8192']);
  });

  it('checks liveness with node against /healthz and logs to its own log group without blocking', () => {
    const c = container(cc);
    const check = c['HealthCheck'] as { Command: string[] };
    expect(check.Command.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    expect(check.Command[3]).toContain(`http://127.0.0.1:${SERVICE_PORT}/healthz`);
    const log = c['LogConfiguration'] as { LogDriver: string; Options: Json };
    expect(log.LogDriver).toBe('awslogs');
    expect(log.Options['mode']).toBe('non-blocking');
    expect(log.Options['awslogs-group']).toEqual({ Ref: logicalId(cc, cc.stack.service!.logGroup) });
  });

  it('gets its configuration as environment variables and the admin token only from Secrets Manager', () => {
    const env = environment(cc);
    expect(Object.keys(env).sort()).toEqual(
      [
        'AWS_REGION', 'HOME', 'KARMA_API_WORK_DIR', 'KARMA_AUDIT_TABLE', 'KARMA_BACKEND', 'KARMA_CONFIG', 'KARMA_CONFIG_BRANCH', 'KARMA_HISTORY_DIR',
        'KARMA_NEPTUNE_ENDPOINT', 'KARMA_NEPTUNE_IAM_AUTH', 'KARMA_NOTIFY_TOPIC_ARN', 'KARMA_SERVICE_TABLE', 'KARMA_SNAPSHOTS', 'KARMA_SSM_EVENTS_QUEUE_URL',
        'KARMA_STATE_MACHINE_ARN', 'KARMA_WORK_DIR', 'NODE_OPTIONS', 'TMPDIR',
      ].sort(),
    );
    expect(env['KARMA_SERVICE_TABLE']).toEqual({ Ref: logicalId(cc, cc.stack.service!.table) });
    expect(env['KARMA_SSM_EVENTS_QUEUE_URL']).toEqual({ Ref: logicalId(cc, cc.stack.service!.ssmEvents) });
    expect(env['KARMA_AUDIT_TABLE']).toEqual({ Ref: logicalId(cc, cc.stack.api!.auditTable) });
    expect(env['KARMA_BACKEND']).toBe('aws');
    expect(env['KARMA_CONFIG']).toBe('https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/karma-config');
    // Every directory Karma writes is on a writable volume.
    for (const name of ['HOME', 'KARMA_API_WORK_DIR', 'KARMA_HISTORY_DIR', 'KARMA_SNAPSHOTS', 'KARMA_WORK_DIR', 'TMPDIR']) {
      expect(String(env[name]), name).toMatch(new RegExp(`^(/tmp|${SERVICE_HOME})(/|$)`));
    }
    expect(env['NODE_OPTIONS']).toBe('--enable-source-maps --max-old-space-size=1536');
    expect(environment(gh)['KARMA_GIT_TOKEN_SECRET']).toBe('karma/github-token');
    expect(container(cc)['Secrets']).toEqual([{ Name: 'KARMA_API_TOKEN', ValueFrom: { Ref: logicalId(cc, cc.stack.service!.adminToken) } }]);
    expect(JSON.stringify(env)).not.toMatch(/TOKEN"|SECRET_ACCESS|PASSWORD/);
  });

  it('runs one task, never two at once, in the private subnets, with a rollback circuit breaker', () => {
    const service = props(only(cc, 'AWS::ECS::Service'));
    expect(service['DesiredCount']).toBe(1);
    expect(service['LaunchType']).toBe('FARGATE');
    expect(service['DeploymentConfiguration']).toMatchObject({ MinimumHealthyPercent: 0, MaximumPercent: 100, DeploymentCircuitBreaker: { Enable: true, Rollback: true } });
    expect((service['NetworkConfiguration'] as { AwsvpcConfiguration: Json }).AwsvpcConfiguration['AssignPublicIp']).toBe('DISABLED');
    expect(props(only(cc, 'AWS::ECS::Cluster'))['ClusterSettings']).toEqual([{ Name: 'containerInsights', Value: 'enabled' }]);
  });
});

describe('the internal ALB', () => {
  it('is internal, listens on HTTP 80 inside the VPC without a certificate and on HTTPS 443 with one', () => {
    for (const s of [cc, gh]) expect(props(only(s, 'AWS::ElasticLoadBalancingV2::LoadBalancer'))['Scheme']).toBe('internal');
    expect(props(only(cc, 'AWS::ElasticLoadBalancingV2::Listener'))).toMatchObject({ Port: 80, Protocol: 'HTTP' });
    expect(props(only(gh, 'AWS::ElasticLoadBalancingV2::Listener'))).toMatchObject({ Port: 443, Protocol: 'HTTPS', Certificates: [{ CertificateArn: CERT }] });
    const attributes = props(only(cc, 'AWS::ElasticLoadBalancingV2::LoadBalancer'))['LoadBalancerAttributes'] as { Key: string; Value: string }[];
    expect(attributes).toEqual(expect.arrayContaining([{ Key: 'access_logs.s3.enabled', Value: 'true' }, { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' }]));
  });

  it('checks readiness on /readyz and drains for at least the task\'s graceful stop', () => {
    const group = props(only(cc, 'AWS::ElasticLoadBalancingV2::TargetGroup'));
    expect(group).toMatchObject({ HealthCheckPath: READINESS_PATH, Port: SERVICE_PORT, Protocol: 'HTTP', TargetType: 'ip', Matcher: { HttpCode: '200' } });
    expect(READINESS_PATH).toBe('/readyz');
    const delay = (group['TargetGroupAttributes'] as { Key: string; Value: string }[]).find((a) => a.Key === 'deregistration_delay.timeout_seconds')!;
    expect(Number(delay.Value)).toBeGreaterThanOrEqual(STOP_TIMEOUT_SECONDS);
  });

  it('admits the VPC CIDR only; the task admits the ALB only; Neptune admits the task on 8182', () => {
    const service = cc.stack.service!;
    const albSg = props(cc.template.findResources('AWS::EC2::SecurityGroup')[logicalId(cc, service.loadBalancerSecurityGroup)] as Json);
    const vpcId = logicalId(cc, cc.stack.network.vpc);
    expect(albSg['SecurityGroupIngress']).toEqual([expect.objectContaining({ CidrIp: { 'Fn::GetAtt': [vpcId, 'CidrBlock'] }, FromPort: 80, ToPort: 80, IpProtocol: 'tcp' })]);
    const taskSg = logicalId(cc, service.securityGroup);
    const ingressTo = (sg: string) => resources(cc, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => props(r)).filter((r) => JSON.stringify(r['GroupId']).includes(`"${sg}"`));
    expect(ingressTo(taskSg)).toEqual([expect.objectContaining({ FromPort: SERVICE_PORT, ToPort: SERVICE_PORT, SourceSecurityGroupId: { 'Fn::GetAtt': [logicalId(cc, service.loadBalancerSecurityGroup), 'GroupId'] } })]);
    expect(props(cc.template.findResources('AWS::EC2::SecurityGroup')[taskSg] as Json)['SecurityGroupIngress']).toBeUndefined();
    const neptune = ingressTo(logicalId(cc, cc.stack.graph.securityGroup)).filter((r) => JSON.stringify(r['SourceSecurityGroupId']).includes(`"${taskSg}"`));
    expect(neptune).toEqual([expect.objectContaining({ FromPort: 8182, ToPort: 8182 })]);
  });

  it('outputs the ALB DNS name and the service URL', () => {
    const outputs = cc.template.findOutputs('*');
    const alb = logicalId(cc, cc.stack.service!.loadBalancer);
    expect(outputs['ServiceLoadBalancerDns']!['Value']).toEqual({ 'Fn::GetAtt': [alb, 'DNSName'] });
    expect(JSON.stringify(outputs['ServiceUrl']!['Value'])).toContain('http://');
    expect(JSON.stringify(gh.template.findOutputs('ServiceUrl')['ServiceUrl']!['Value'])).toContain('https://');
  });
});

describe('the service table and the SSM change queue', () => {
  it('table: pk + sk, on demand, PITR, Karma\'s KMS key, retained, deletion protection', () => {
    const id = logicalId(cc, cc.stack.service!.table);
    const table = cc.template.findResources('AWS::DynamoDB::Table')[id] as Json;
    expect(table['DeletionPolicy']).toBe('Retain');
    expect(table['UpdateReplacePolicy']).toBe('Retain');
    expect(props(table)).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [logicalId(cc, cc.stack.pipeline.key), 'Arn'] } },
      DeletionProtectionEnabled: true,
    });
  });

  it('queue: encrypted, TLS only, with a dead-letter queue; the rule sends Parameter Store Changes under the prefix to it', () => {
    const service = cc.stack.service!;
    const queue = props(cc.template.findResources('AWS::SQS::Queue')[logicalId(cc, service.ssmEvents)] as Json);
    expect(queue['SqsManagedSseEnabled']).toBe(true);
    expect(queue['RedrivePolicy']).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(cc, service.ssmEventsDeadLetters), 'Arn'] }, maxReceiveCount: 5 });
    for (const q of [service.ssmEvents, service.ssmEventsDeadLetters]) {
      const policy = resources(cc, 'AWS::SQS::QueuePolicy').find(([, p]) => JSON.stringify(props(p)['Queues']).includes(`"${logicalId(cc, q)}"`))!;
      expect(JSON.stringify(props(policy[1])['PolicyDocument'])).toContain('"aws:SecureTransport":"false"');
    }
    const rule = props(cc.template.findResources('AWS::Events::Rule')[logicalId(cc, service.ssmRule)] as Json);
    expect(rule['EventPattern']).toEqual({ source: ['aws.ssm'], 'detail-type': ['Parameter Store Change'], detail: { name: [{ prefix: '/karma/' }] } });
    expect(rule['Targets']).toEqual([
      expect.objectContaining({ Arn: { 'Fn::GetAtt': [logicalId(cc, service.ssmEvents), 'Arn'] }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(cc, cc.stack.triggers.deadLetterQueue), 'Arn'] } } }),
    ]);
    const ghRule = props(gh.template.findResources('AWS::Events::Rule')[logicalId(gh, gh.stack.service!.ssmRule)] as Json);
    expect((ghRule['EventPattern'] as { detail: { name: unknown } }).detail.name).toEqual([{ prefix: '/karma/' }, { prefix: '/shared/network' }]);
  });
});

describe('the service rule on EventBridge (moto): which parameter changes reach the queue', () => {
  let moto: MotoServer;
  let events: EventBridgeClient;
  let sqs: SQSClient;
  let queueUrl: string;

  beforeAll(async () => {
    moto = await startMotoServer();
    const config = { region: 'eu-west-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
    events = new EventBridgeClient(config);
    sqs = new SQSClient(config);
    await events.send(new CreateEventBusCommand({ Name: 'karma-service' }));
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'karma-service' }))).QueueUrl!;
    await events.send(new PutRuleCommand({ Name: 'karma-service', EventBusName: 'karma-service', EventPattern: JSON.stringify(serviceSsmEventsPattern('/karma', ['/shared/network'])) }));
    await events.send(new PutTargetsCommand({ Rule: 'karma-service', EventBusName: 'karma-service', Targets: [{ Id: 'queue', Arn: 'arn:aws:sqs:eu-west-1:123456789012:karma-service' }] }));
  }, 120_000);

  afterAll(async () => {
    events?.destroy();
    sqs?.destroy();
    await moto?.stop();
  });

  it.each([
    ['/karma/karma-dev/network/outputs/vpc_id', 'Update', true],
    ['/karma/karma-dev/network/state', 'Update', true],
    ['/karma/karma-prod/dns/outputs/zone_id', 'Delete', true],
    ['/shared/network/vpc-id', 'Create', true],
    ['/karma-locks/karma-dev', 'Create', false],
    ['/karmaX/karma-dev/network/state', 'Update', false],
    ['/other/karma/karma-dev/network/state', 'Update', false],
  ])('%s (%s) → queued: %s', async (name, operation, expected) => {
    const put = await events.send(
      new PutEventsCommand({
        Entries: [{ EventBusName: 'karma-service', Source: 'aws.ssm', DetailType: 'Parameter Store Change', Resources: [`arn:aws:ssm:eu-west-1:123456789012:parameter${name}`], Detail: JSON.stringify({ name, operation, type: 'String' }) }],
      }),
    );
    expect(put.FailedEntryCount ?? 0).toBe(0);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 600 }));
    const bodies = (got.Messages ?? []).map((m) => JSON.parse(m.Body!) as { detail: { name: string } });
    expect(bodies.map((b) => b.detail.name)).toEqual(expected ? [name] : []);
  });
});

describe('the task role: least privilege', () => {
  it('grants the runtime store, its table and the audit table, its queue, the state machine, Neptune, the topic, Git: no action wildcard, no * resource', () => {
    const service = cc.stack.service!;
    const statements = statementsOfRole(cc, logicalId(cc, service.taskDefinition.taskRole));
    const actions = statements.flatMap((s) => list(s['Action']) as string[]);
    expect(new Set(actions)).toEqual(
      new Set([
        'ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath', 'ssm:PutParameter',
        'neptune-db:connect', 'neptune-db:ReadDataViaQuery', 'neptune-db:WriteDataViaQuery', 'neptune-db:DeleteDataViaQuery',
        'dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem',
        'kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey', 'kms:GenerateDataKey*',
        'sqs:ReceiveMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueUrl', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes',
        'states:StartExecution', 'states:DescribeExecution', 'sns:Publish', 'codecommit:GitPull', 'codecommit:GitPush',
      ]),
    );
    for (const s of statements) {
      expect(s['Effect']).toBe('Allow');
      for (const r of list(s['Resource'])) expect(r, JSON.stringify(s)).not.toBe('*');
    }
    const resourcesOf = (action: string) => statements.filter((s) => list(s['Action']).includes(action)).flatMap((s) => list(s['Resource']));
    const ssm = (p: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ssm:eu-west-1:123456789012:parameter${p}`]] });
    expect(resourcesOf('ssm:PutParameter')).toEqual([ssm('/karma/*/state')]);
    expect(resourcesOf('ssm:GetParametersByPath')).toEqual([ssm('/karma'), ssm('/karma/*')]);
    // Writes to DynamoDB: the service table, and only PutItem on the audit table (the audit log is append-only).
    const table = { 'Fn::GetAtt': [logicalId(cc, service.table), 'Arn'] };
    const audit = { 'Fn::GetAtt': [logicalId(cc, cc.stack.api!.auditTable), 'Arn'] };
    for (const action of ['dynamodb:UpdateItem', 'dynamodb:DeleteItem']) expect(resourcesOf(action)).toEqual([table]);
    expect(resourcesOf('dynamodb:PutItem')).toEqual(expect.arrayContaining([table, audit]));
    expect(resourcesOf('dynamodb:PutItem')).toHaveLength(2);
    expect(resourcesOf('sqs:DeleteMessage')).toEqual([{ 'Fn::GetAtt': [logicalId(cc, service.ssmEvents), 'Arn'] }]);
    expect(resourcesOf('states:StartExecution')).toEqual([{ Ref: logicalId(cc, cc.stack.pipeline.stateMachine) }]);
    expect(resourcesOf('sns:Publish')).toEqual([{ Ref: logicalId(cc, cc.stack.pipeline.topic) }]);
    const push = statements.find((s) => list(s['Action']).includes('codecommit:GitPush'))!;
    expect(push['Condition']).toEqual({ 'ForAllValues:StringLike': { 'codecommit:References': ['refs/heads/karma/proposals/*', 'refs/heads/main'] } });
  });

  it('with a private GitHub repo: reads the token secret, no CodeCommit; the readable paths are read-only', () => {
    const statements = statementsOfRole(gh, logicalId(gh, gh.stack.service!.taskDefinition.taskRole));
    const actions = statements.flatMap((s) => list(s['Action']) as string[]);
    expect(actions).toContain('secretsmanager:GetSecretValue');
    expect(actions.filter((a) => a.startsWith('codecommit:'))).toEqual([]);
    const secret = statements.find((s) => list(s['Action']).includes('secretsmanager:GetSecretValue'))!;
    expect(JSON.stringify(secret['Resource'])).toContain(':secret:karma/github-token-??????');
    const put = statements.filter((s) => list(s['Action']).includes('ssm:PutParameter')).flatMap((s) => list(s['Resource']));
    expect(JSON.stringify(put)).not.toContain('/shared/network');
  });

  it('the execution role: pulls the image, writes its log group, reads the admin token; only GetAuthorizationToken on *', () => {
    const service = cc.stack.service!;
    const statements = statementsOfRole(cc, logicalId(cc, service.taskDefinition.obtainExecutionRole()));
    const star = statements.filter((s) => list(s['Resource']).includes('*'));
    expect(star.flatMap((s) => list(s['Action']))).toEqual(['ecr:GetAuthorizationToken']);
    const secret = statements.find((s) => list(s['Action']).includes('secretsmanager:GetSecretValue'))!;
    expect(secret['Resource']).toEqual({ Ref: logicalId(cc, service.adminToken) });
    // The secret is encrypted with Karma's key: the key policy lets the execution role decrypt through Secrets Manager only.
    const key = props(cc.template.findResources('AWS::KMS::Key')[logicalId(cc, cc.stack.pipeline.key)] as Json);
    const executionRole = logicalId(cc, service.taskDefinition.obtainExecutionRole());
    const decrypt = (key['KeyPolicy'] as { Statement: Json[] }).Statement.filter((s) => JSON.stringify(s['Principal']).includes(`"${executionRole}"`));
    expect(decrypt).toEqual([expect.objectContaining({ Action: 'kms:Decrypt', Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } } })]);
  });
});

describe('a pushed image (settings.service.image)', () => {
  it('runs the ECR image by tag, builds nothing, and lets the execution role pull from that repository only', () => {
    const image = container(pushed)['Image'];
    expect(JSON.stringify(image)).toContain('.dkr.ecr.eu-west-1.');
    expect(JSON.stringify(image)).toContain('/karma/service:1.4.0');
    const manifest = JSON.parse(readFileSync(join(pushed.outdir, 'Karma.assets.json'), 'utf8')) as { dockerImages?: Json };
    expect(Object.keys(manifest.dockerImages ?? {})).toEqual([]);
    const statements = statementsOfRole(pushed, logicalId(pushed, pushed.stack.service!.taskDefinition.obtainExecutionRole()));
    const pull = statements.find((s) => list(s['Action']).includes('ecr:BatchGetImage'))!;
    expect(JSON.stringify(pull['Resource'])).toContain(':repository/karma/service');
  });
});

describe('cdk-nag and the image asset', () => {
  it('synthesizes with cdk-nag and no unacknowledged finding; every service acknowledgement has a reason', () => {
    // beforeAll synthesized both deployments with nag: a finding would have thrown.
    for (const s of [cc, gh, pushed]) {
      const mine = s.stack.acknowledgements.filter((a) => a.path.startsWith(`${s.stack.node.id}/Service/`));
      expect(mine.map((a) => a.id)).toEqual(expect.arrayContaining(['AwsSolutions-ECS2', 'AwsSolutions-EC23', 'AwsSolutions-SMG4']));
      for (const a of mine) expect(a.reason.length).toBeGreaterThan(40);
    }
  });

  it('cdk synth stages the Docker build context (the .dockerignore allow-list) without running Docker', () => {
    const manifest = cc.outdir;
    const assets = readdirSync(manifest).filter((f) => f.startsWith('asset.'));
    const staged = assets.map((a) => join(manifest, a)).find((dir) => existsSync(join(dir, 'Dockerfile')) && !existsSync(join(dir, 'docs')))!;
    expect(staged).toBeDefined();
    expect(readdirSync(staged).sort()).toEqual(['.dockerignore', 'Dockerfile', 'bin', 'lib', 'package-lock.json', 'package.json', 'scripts', 'statemachines', 'web']);
    expect(existsSync(join(staged, 'node_modules'))).toBe(false);
  });
});
