/**
 * The serverless HTTP API (lib/infra/api.ts) in the synthesized template: one route per API_ROUTES entry on its
 * group's function with the right authorization (NONE for meta, AWS_IAM by default, JWT with the setting), one
 * function per group bundled from its API_FUNCTION_ENTRIES file, the throttled $default stage and its access
 * logs, the audit table, the per-role invoke policies and the functions' grants and environment.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { API_FUNCTION_ENTRIES, API_GROUPS, API_ROLES, API_ROUTES, type ApiGroup, type ApiRole } from '../../lib/core/pipeline-contract.ts';
import { ACCESS_LOG_FIELDS } from '../../lib/infra/api.ts';
import { karmaApp } from '../../lib/infra/app.ts';
import { REPO_ROOT } from '../../lib/infra/pipeline.ts';
import type { KarmaSettingsInput } from '../../lib/infra/settings.ts';
import { CODECOMMIT_SETTINGS, GITHUB_SETTINGS, synth, type Synthesized } from './helpers.ts';

type Json = Record<string, unknown>;
const JWT = { jwt: { issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123', audience: ['client-1', 'client-2'] } };

let cc: Synthesized;
let jwt: Synthesized;

beforeAll(() => {
  cc = synth(CODECOMMIT_SETTINGS);
  jwt = synth({ ...CODECOMMIT_SETTINGS, api: { auth: JWT, throttle: { rateLimit: 5, burstLimit: 7 } } });
}, 120_000);

const props = (r: Json) => r['Properties'] as Json;
function resources(s: Synthesized, type: string): [string, Json][] {
  return Object.entries(s.template.findResources(type)) as [string, Json][];
}
/** The logical id of a group's function (its construct is Api/<Group>Function). */
function functionId(s: Synthesized, group: ApiGroup): string {
  return s.stack.getLogicalId(s.stack.api!.functions[group].node.defaultChild as never);
}
function functionProps(s: Synthesized, group: ApiGroup): Json {
  return props(s.template.findResources('AWS::Lambda::Function')[functionId(s, group)] as Json);
}
function envOf(s: Synthesized, group: ApiGroup): Json {
  return (functionProps(s, group)['Environment'] as { Variables: Json }).Variables;
}
/** Every statement of a group's function role policy. */
function statementsOf(s: Synthesized, group: ApiGroup): Json[] {
  const [, policy] = resources(s, 'AWS::IAM::Policy').find(([id]) => id.startsWith(`Api${group[0]!.toUpperCase()}${group.slice(1)}FunctionServiceRoleDefaultPolicy`))!;
  return (props(policy)['PolicyDocument'] as { Statement: Json[] }).Statement;
}
const actionsOf = (statements: Json[]) => statements.flatMap((st) => ([] as string[]).concat(st['Action'] as string)).sort();
/** The route's integration → its Lambda function logical id. */
function targetFunction(s: Synthesized, route: Json): string {
  const integrationId = /integrations\/",\{"Ref":"([^"]+)"/.exec(JSON.stringify(props(route)['Target']))![1]!;
  const integration = s.template.findResources('AWS::ApiGatewayV2::Integration')[integrationId] as Json;
  return (props(integration)['IntegrationUri'] as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}
function routeByKey(s: Synthesized, key: string): Json | undefined {
  return resources(s, 'AWS::ApiGatewayV2::Route').find(([, r]) => props(r)['RouteKey'] === key)?.[1];
}

describe('routes', () => {
  it('one route per API_ROUTES entry, on its group\'s function; meta open, every other route IAM (SigV4) by default', () => {
    // Assess
    cc.template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    cc.template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    expect(resources(cc, 'AWS::ApiGatewayV2::Route')).toHaveLength(API_ROUTES.length);
    for (const r of API_ROUTES) {
      const route = routeByKey(cc, `${r.method} ${r.path}`);
      expect(route, `${r.method} ${r.path}`).toBeDefined();
      expect(props(route!)['AuthorizationType'], `${r.method} ${r.path}`).toBe(r.group === 'meta' ? 'NONE' : 'AWS_IAM');
      expect(targetFunction(cc, route!), `${r.method} ${r.path}`).toBe(functionId(cc, r.group));
    }
    cc.template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
    // One Lambda integration (payload 2.0) per group; API Gateway may invoke each function for its routes.
    expect(resources(cc, 'AWS::ApiGatewayV2::Integration')).toHaveLength(API_GROUPS.length);
    for (const [, i] of resources(cc, 'AWS::ApiGatewayV2::Integration')) expect(props(i)).toMatchObject({ IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
    const permissions = resources(cc, 'AWS::Lambda::Permission').filter(([id]) => id.startsWith('ApiHttpApi'));
    expect(permissions).toHaveLength(API_ROUTES.length);
    for (const [, p] of permissions) expect(props(p)['Principal']).toBe('apigateway.amazonaws.com');
  });

  it('with settings api.auth.jwt: a JWT authorizer (issuer, audiences, Authorization header) on every non-meta route', () => {
    // Assess
    jwt.template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
    const [authorizerId, authorizer] = resources(jwt, 'AWS::ApiGatewayV2::Authorizer')[0]!;
    expect(props(authorizer)).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: JWT.jwt.issuer, Audience: JWT.jwt.audience },
    });
    for (const r of API_ROUTES) {
      const route = props(routeByKey(jwt, `${r.method} ${r.path}`)!);
      if (r.group === 'meta') {
        expect(route['AuthorizationType']).toBe('NONE');
        expect(route['AuthorizerId']).toBeUndefined();
      } else {
        expect(route['AuthorizationType'], `${r.method} ${r.path}`).toBe('JWT');
        expect(route['AuthorizerId']).toEqual({ Ref: authorizerId });
      }
    }
  });
});

describe('functions', () => {
  it('one per group: Node 24, ARM64, X-Ray; read and changes in the VPC with Neptune\'s client security group, meta and ops outside', () => {
    const apiFunctions = resources(cc, 'AWS::Lambda::Function').filter(([id]) => id.startsWith('Api'));
    expect(apiFunctions).toHaveLength(API_GROUPS.length);
    const clientSg = resources(cc, 'AWS::EC2::SecurityGroup').find(([, r]) => String(props(r)['GroupDescription']).startsWith('Karma Lambdas'))![0];
    for (const group of API_GROUPS) {
      const p = functionProps(cc, group);
      expect(p).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Handler: 'index.handler', TracingConfig: { Mode: 'Active' } });
      expect(String(p['Description'])).toMatch(new RegExp(`^Karma API ${group}: `));
      if (group === 'read' || group === 'changes') expect(p['VpcConfig']).toMatchObject({ SecurityGroupIds: [{ 'Fn::GetAtt': [clientSg, 'GroupId'] }] });
      else expect(p['VpcConfig']).toBeUndefined();
      // API Gateway gives up after 30 s: no function runs longer.
      expect(p['Timeout']).toBeLessThanOrEqual(29);
    }
  });

  it('environment: the build step\'s config/graph wiring for read and changes, the audit table and state machine where used, KARMA_API_AUTH', () => {
    // Prepare
    const [buildId, build] = resources(cc, 'AWS::Lambda::Function').find(([id]) => id.startsWith('PipelineBuild'))!;
    const buildEnv = (props(build)['Environment'] as { Variables: Json }).Variables;
    const shared = ['HOME', 'KARMA_CONFIG', 'KARMA_BACKEND', 'KARMA_HISTORY_DIR', 'KARMA_NEPTUNE_ENDPOINT', 'KARMA_NEPTUNE_IAM_AUTH'];
    const table = { Ref: resources(cc, 'AWS::DynamoDB::Table')[0]![0] };
    const stateMachine = { Ref: resources(cc, 'AWS::StepFunctions::StateMachine')[0]![0] };

    // Assess
    expect(buildId).toBeDefined();
    for (const group of ['read', 'changes'] as const) {
      const env = envOf(cc, group);
      for (const key of shared) expect(env[key], `${group} ${key}`).toEqual(buildEnv[key]);
      expect(env['KARMA_CONFIG']).toBe('https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/karma-config');
      // The tracked branch: proposals are based on it and merged into it (not the remote's default branch).
      expect(env['KARMA_CONFIG_BRANCH']).toBe('main');
    }
    expect(envOf(cc, 'read')['KARMA_AUDIT_TABLE']).toBeUndefined();
    expect(envOf(cc, 'changes')).toMatchObject({ KARMA_AUDIT_TABLE: table, KARMA_STATE_MACHINE_ARN: stateMachine });
    expect(envOf(cc, 'ops')).toMatchObject({ KARMA_AUDIT_TABLE: table, KARMA_STATE_MACHINE_ARN: stateMachine });
    expect(envOf(cc, 'ops')['KARMA_CONFIG']).toBeUndefined();
    expect(envOf(cc, 'meta')['KARMA_AUDIT_TABLE']).toBeUndefined();
    for (const group of API_GROUPS) {
      expect(envOf(cc, group)['KARMA_API_AUTH']).toBe('iam');
      expect(envOf(cc, group)['KARMA_API_ROLES_CLAIM']).toBeUndefined();
      expect(envOf(jwt, group)).toMatchObject({ KARMA_API_AUTH: 'jwt', KARMA_API_ROLES_CLAIM: 'karma:roles' });
    }
    const custom = synth({ ...CODECOMMIT_SETTINGS, api: { auth: { jwt: { ...JWT.jwt, rolesClaim: 'cognito:groups' } } } });
    for (const group of API_GROUPS) expect(envOf(custom, group)['KARMA_API_ROLES_CLAIM']).toBe('cognito:groups');
  });

  it('private GitHub repo: read and changes get KARMA_GIT_TOKEN_SECRET and read on that secret; a public one warns that proposals cannot be pushed', () => {
    // Prepare
    const priv = synth({ ...GITHUB_SETTINGS, configRepo: { github: { owner: 'acme', repo: 'infra-config', tokenSecretName: 'karma/github-token' } } });
    const pub = synth(GITHUB_SETTINGS);

    // Assess
    for (const group of ['read', 'changes'] as const) {
      expect(envOf(priv, group)['KARMA_GIT_TOKEN_SECRET']).toBe('karma/github-token');
      expect(envOf(priv, group)['KARMA_CONFIG']).toBe('https://github.com/acme/infra-config.git');
      const secret = statementsOf(priv, group).find((st) => JSON.stringify(st['Action']).includes('secretsmanager:GetSecretValue'))!;
      expect(JSON.stringify(secret['Resource'])).toMatch(/:secret:karma\/github-token-\?\?\?\?\?\?"\]\]\}$/);
      expect(actionsOf(statementsOf(priv, group)).filter((a) => a.startsWith('codecommit:'))).toEqual([]);
    }
    for (const group of ['meta', 'ops'] as const) expect(JSON.stringify(statementsOf(priv, group))).not.toContain('secretsmanager');
    const warning = /POST \/request-change and POST \/changes\/\{id\}\/apply cannot push to GitHub/;
    expect(Annotations.fromStack(pub.stack).findWarning('*', Match.stringLikeRegexp(warning.source))).toHaveLength(1);
    expect(Annotations.fromStack(priv.stack).findWarning('*', Match.stringLikeRegexp(warning.source))).toHaveLength(0);
    expect(Annotations.fromStack(cc.stack).findWarning('*', Match.stringLikeRegexp(warning.source))).toHaveLength(0);
  });

  it('each group\'s function is bundled from its API_FUNCTION_ENTRIES file (the bundle\'s source map names it)', () => {
    // Prepare: a synth that really bundles (esbuild, local), unlike the other tests here
    const outdir = mkdtempSync(join(tmpdir(), 'karma-api-bundle-'));
    const { app, stack } = karmaApp({ outdir, nag: false, context: { karma: CODECOMMIT_SETTINGS, 'aws:cdk:bundling-stacks': ['**'], 'aws:cdk:enable-asset-metadata': true } });
    const assembly = app.synth();
    const template = Template.fromStack(stack);

    // Assess
    for (const group of API_GROUPS) {
      const id = stack.getLogicalId(stack.api!.functions[group].node.defaultChild as never);
      const fn = template.findResources('AWS::Lambda::Function')[id] as { Metadata: Record<string, string> };
      const map = JSON.parse(readFileSync(join(assembly.directory, fn.Metadata['aws:asset:path']!, 'index.mjs.map'), 'utf8')) as { sources: string[] };
      const sources = map.sources.map((s) => resolve(join(assembly.directory, fn.Metadata['aws:asset:path']!), s));
      expect(sources, group).toContain(join(REPO_ROOT, API_FUNCTION_ENTRIES[group]));
      for (const other of API_GROUPS.filter((g) => g !== group)) expect(sources).not.toContain(join(REPO_ROOT, API_FUNCTION_ENTRIES[other]));
    }
  }, 170_000);
});

describe('stage', () => {
  it('the $default stage, auto-deployed, throttled from settings (default 20 rps, burst 40)', () => {
    cc.template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    cc.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', AutoDeploy: true, DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 } });
    jwt.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 7 } });
  });

  it('access logs: one JSON line per request (request id, ip, caller, user ARN, method, route, status, latency) to a retained log group', () => {
    // Prepare
    const [, stage] = resources(cc, 'AWS::ApiGatewayV2::Stage')[0]!;
    const settings = props(stage)['AccessLogSettings'] as { DestinationArn: { 'Fn::GetAtt': [string, string] }; Format: string };

    // Assess
    const format = JSON.parse(settings.Format) as Record<string, string>;
    expect(format).toEqual(ACCESS_LOG_FIELDS);
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      ip: '$context.identity.sourceIp',
      caller: '$context.identity.caller',
      userArn: '$context.identity.userArn',
      method: '$context.httpMethod',
      routeKey: '$context.routeKey',
      status: '$context.status',
      latency: '$context.responseLatency',
    });
    const logGroup = cc.template.findResources('AWS::Logs::LogGroup')[settings.DestinationArn['Fn::GetAtt'][0]] as Json;
    expect(props(logGroup)['RetentionInDays']).toBe(365);
    expect(logGroup['DeletionPolicy']).toBe('Retain');
  });
});

describe('audit table', () => {
  it('log (S) + id (S), GSI byChange (change S + id S), on demand, PITR, Karma\'s KMS key, retained', () => {
    cc.template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const [, table] = resources(cc, 'AWS::DynamoDB::Table')[0]!;
    const key = resources(cc, 'AWS::KMS::Key')[0]![0];
    expect(table).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(props(table)).toMatchObject({
      KeySchema: [
        { AttributeName: 'log', KeyType: 'HASH' },
        { AttributeName: 'id', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byChange',
          KeySchema: [
            { AttributeName: 'change', KeyType: 'HASH' },
            { AttributeName: 'id', KeyType: 'RANGE' },
          ],
        },
      ],
    });
    expect([...(props(table)['AttributeDefinitions'] as Json[])].sort((a, b) => String(a['AttributeName']).localeCompare(String(b['AttributeName'])))).toEqual([
      { AttributeName: 'change', AttributeType: 'S' },
      { AttributeName: 'id', AttributeType: 'S' },
      { AttributeName: 'log', AttributeType: 'S' },
    ]);
  });

  it('changes may put, get and query; ops get and query; nobody may update or delete an entry', () => {
    const dynamo = (group: ApiGroup) => actionsOf(statementsOf(cc, group)).filter((a) => a.startsWith('dynamodb:'));
    expect(dynamo('changes')).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
    expect(dynamo('ops')).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(dynamo('read')).toEqual([]);
    expect(dynamo('meta')).toEqual([]);
    const everything = JSON.stringify(resources(cc, 'AWS::IAM::Policy'));
    for (const forbidden of ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:*']) expect(everything).not.toContain(forbidden);
    // The key: decrypt for both, encrypt for the writer only; no wildcard actions.
    const kms = (group: ApiGroup) => actionsOf(statementsOf(cc, group)).filter((a) => a.startsWith('kms:'));
    expect(kms('changes')).toEqual(['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
    expect(kms('ops')).toEqual(['kms:Decrypt', 'kms:DescribeKey']);
  });
});

describe('grants', () => {
  it('read: runtime store, Neptune read/write (refresh), config repo pull; changes: Neptune read, push to proposals and the branch only, start executions; ops: its executions only', () => {
    // Assess
    const read = actionsOf(statementsOf(cc, 'read'));
    expect(read).toEqual(
      [
        'codecommit:GitPull',
        'neptune-db:DeleteDataViaQuery',
        'neptune-db:ReadDataViaQuery',
        'neptune-db:WriteDataViaQuery',
        'neptune-db:connect',
        'ssm:GetParameter',
        'ssm:GetParameters',
        'ssm:GetParametersByPath',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ].sort(),
    );
    const changes = statementsOf(cc, 'changes');
    expect(actionsOf(changes).filter((a) => a.startsWith('neptune-db:'))).toEqual(['neptune-db:ReadDataViaQuery', 'neptune-db:connect']);
    const push = changes.find((st) => st['Action'] === 'codecommit:GitPush')!;
    expect(push['Condition']).toEqual({ 'ForAllValues:StringLike': { 'codecommit:References': ['refs/heads/karma/proposals/*', 'refs/heads/main'] } });
    expect(JSON.stringify(push['Resource'])).toContain(':codecommit:eu-west-1:123456789012:karma-config');
    const stateMachine = resources(cc, 'AWS::StepFunctions::StateMachine')[0]![0];
    expect(changes.find((st) => st['Action'] === 'states:StartExecution')!['Resource']).toEqual({ Ref: stateMachine });
    // It follows the executions it started (a change's status), and only those of this state machine.
    expect(JSON.stringify(changes.find((st) => st['Action'] === 'states:DescribeExecution')!['Resource'])).toContain(':execution:');
    const ops = statementsOf(cc, 'ops');
    const executions = ops.find((st) => JSON.stringify(st['Action']).includes('states:'))!;
    expect([...(executions['Action'] as string[])].sort()).toEqual(['states:DescribeExecution', 'states:GetExecutionHistory']);
    expect(executions['Resource']).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:eu-west-1:123456789012:execution:', { 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: stateMachine }] }] }, ':*']],
    });
    expect(actionsOf(statementsOf(cc, 'meta'))).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    // Nothing of the API writes the runtime store.
    expect(JSON.stringify(API_GROUPS.map((g) => statementsOf(cc, g)))).not.toContain('ssm:PutParameter');
  });

  it('isolated VPC: the endpoints the changes function needs (DynamoDB gateway, Step Functions interface)', () => {
    const services = resources(cc, 'AWS::EC2::VPCEndpoint').map(([, r]) => [/\.([a-z0-9-]+)"[\]}]*$/.exec(JSON.stringify(props(r)['ServiceName']))?.[1], props(r)['VpcEndpointType']]);
    expect(services).toContainEqual(['dynamodb', 'Gateway']);
    expect(services).toContainEqual(['states', 'Interface']);
  });
});

describe('role policies', () => {
  it('one managed policy per role, granting execute-api:Invoke on exactly that role\'s routes (apply ⊇ propose ⊇ read), never the open ones', () => {
    // Prepare
    const api = resources(cc, 'AWS::ApiGatewayV2::Api')[0]![0];
    const expected = (role: ApiRole) =>
      API_ROUTES.filter((r) => r.role !== null && API_ROLES.indexOf(r.role) <= API_ROLES.indexOf(role))
        .map((r) => `/*/${r.method}${r.path.replace(/\{[^}]+\}/g, '*')}`)
        .sort();

    // Assess
    const policies = resources(cc, 'AWS::IAM::ManagedPolicy').filter(([id]) => id.startsWith('Api'));
    expect(policies).toHaveLength(API_ROLES.length);
    for (const role of API_ROLES) {
      const [, policy] = policies.find(([id]) => id.startsWith(`Api${role[0]!.toUpperCase()}${role.slice(1)}Policy`))!;
      const statements = (props(policy)['PolicyDocument'] as { Statement: Json[] }).Statement;
      expect(statements).toHaveLength(1);
      expect(statements[0]).toMatchObject({ Effect: 'Allow', Action: 'execute-api:Invoke' });
      const arns = (statements[0]!['Resource'] as { 'Fn::Join': [string, unknown[]] }[]).map((r) => {
        const parts = r['Fn::Join'][1];
        expect(parts.slice(0, 4)).toEqual(['arn:', { Ref: 'AWS::Partition' }, ':execute-api:eu-west-1:123456789012:', { Ref: api }]);
        return parts[4] as string;
      });
      expect(arns.sort(), role).toEqual(expected(role));
      expect(arns.some((a) => a.includes('healthz') || a.includes('openapi'))).toBe(false);
    }
    // The cumulative sets, spelled out once.
    expect(expected('read')).toEqual(['/*/GET/audit', '/*/GET/changes', '/*/GET/changes/*', '/*/GET/components/*/*', '/*/GET/environments', '/*/GET/executions/*', '/*/GET/graph', '/*/GET/impact', '/*/GET/plan']);
    expect(expected('propose')).toEqual([...expected('read'), '/*/POST/request-change'].sort());
    expect(expected('apply')).toEqual([...expected('propose'), '/*/POST/changes/*/apply'].sort());
  });

  it('outputs: the API URL, the three policy ARNs and the audit table', () => {
    const outputs = cc.template.toJSON()['Outputs'] as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs['ApiUrl']!.Value)).toMatch(/"https:\/\/",\{"Ref":"ApiHttpApi[0-9A-F]+"\},"\.execute-api\.eu-west-1\."/);
    for (const role of API_ROLES) {
      const id = resources(cc, 'AWS::IAM::ManagedPolicy').find(([x]) => x.startsWith(`Api${role[0]!.toUpperCase()}${role.slice(1)}Policy`))![0];
      expect(outputs[`Api${role[0]!.toUpperCase()}${role.slice(1)}PolicyArn`]!.Value).toEqual({ Ref: id });
    }
    expect(outputs['AuditTableName']!.Value).toEqual({ Ref: resources(cc, 'AWS::DynamoDB::Table')[0]![0] });
  });
});

describe('settings api.enabled = false', () => {
  it('no API, no functions, no table, no outputs of it', () => {
    const off = synth({ ...CODECOMMIT_SETTINGS, api: { enabled: false } } satisfies KarmaSettingsInput);
    expect(off.stack.api).toBeUndefined();
    for (const type of ['AWS::ApiGatewayV2::Api', 'AWS::ApiGatewayV2::Route', 'AWS::DynamoDB::Table', 'AWS::IAM::ManagedPolicy']) off.template.resourceCountIs(type, 0);
    expect(Object.keys(off.template.toJSON()['Outputs'] as Json).filter((k) => k.startsWith('Api') || k === 'AuditTableName')).toEqual([]);
  });
});

describe('cdk-nag', () => {
  it.each([
    ['JWT auth', { ...CODECOMMIT_SETTINGS, api: { auth: JWT } }],
    ['readable parameter paths', { ...CODECOMMIT_SETTINGS, readableParameterPaths: ['/shared/network'] }],
    ['API disabled', { ...CODECOMMIT_SETTINGS, api: { enabled: false } }],
  ] as [string, KarmaSettingsInput][])('%s: no unacknowledged findings (the open meta routes are acknowledged with a reason)', (_name, settings) => {
    const { stack } = synth(settings, { nag: true }); // throws on any unacknowledged finding
    const open = stack.acknowledgements.filter((a) => a.id === 'AwsSolutions-APIG4');
    expect(open.map((a) => a.path).sort()).toEqual(stack.api ? ['Karma/Api/HttpApi/GET--healthz', 'Karma/Api/HttpApi/GET--openapi.json'] : []);
  });
});
