/**
 * The synthesized template (bundling skipped here; synth.test.ts bundles through the CLI): resource counts,
 * key properties, the state machine definition with every placeholder substituted, the trigger patterns and
 * targets, least-privilege grants.
 */
import { readFileSync } from 'node:fs';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { CODEBUILD_SUBSTITUTION, FUNCTION_SUBSTITUTIONS } from '../../lib/core/pipeline-contract.ts';
import { applyProjectName } from '../../lib/core/pipeline-contract.ts';
import { codeCommitPushPattern, gitHubPushPattern, ssmChangePattern } from '../../lib/core/pipeline-contract.ts';
import { PLUGIN_CACHE_DIR } from '../../lib/infra/buildspec.ts';
import { DELIVERY_RETENTION_DAYS } from '../../lib/app/webhook.ts';
import { DEFINITION_FILE, PROVIDER_CACHE_PREFIX } from '../../lib/infra/pipeline.ts';
import { CODECOMMIT_SETTINGS, GITHUB_SETTINGS, synth, type Synthesized } from './helpers.ts';

type Json = Record<string, unknown>;
let cc: Synthesized;
let gh: Synthesized;

beforeAll(() => {
  cc = synth(CODECOMMIT_SETTINGS);
  gh = synth(GITHUB_SETTINGS);
}, 60_000);

function resources(s: Synthesized, type: string): [string, Json][] {
  return Object.entries(s.template.findResources(type)) as [string, Json][];
}
const props = (r: Json) => r['Properties'] as Json;

describe('network', () => {
  it('CodeCommit: isolated subnets, no NAT, endpoints for exactly what the Lambdas call: SSM, SNS, CodeCommit Git and S3 (and DynamoDB and Step Functions for the API, api.test.ts)', () => {
    cc.template.resourceCountIs('AWS::EC2::VPC', 1);
    cc.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    cc.template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    cc.template.resourceCountIs('AWS::EC2::Subnet', 2);
    const services = resources(cc, 'AWS::EC2::VPCEndpoint').map(([, r]) => /\.([a-z0-9-]+)"[\]}]*$/.exec(JSON.stringify(props(r)['ServiceName']))?.[1]).sort();
    expect(services).toEqual(['dynamodb', 'git-codecommit', 's3', 'sns', 'ssm', 'states']);
    cc.template.resourceCountIs('AWS::EC2::FlowLog', 1);
  });

  it('GitHub: one NAT gateway (setting) and no CodeCommit endpoint', () => {
    gh.template.resourceCountIs('AWS::EC2::NatGateway', 1);
    const services = resources(gh, 'AWS::EC2::VPCEndpoint').map(([, r]) => /\.([a-z0-9-]+)"[\]}]*$/.exec(JSON.stringify(props(r)['ServiceName']))?.[1]).sort();
    expect(services).toEqual(['dynamodb', 's3', 'sns', 'ssm', 'states']);
  });
});

describe('Neptune', () => {
  it('serverless v2 capacity from settings, IAM auth, encrypted, engine 1.4, db.serverless instance', () => {
    cc.template.resourceCountIs('AWS::Neptune::DBCluster', 1);
    cc.template.hasResourceProperties('AWS::Neptune::DBCluster', {
      IamAuthEnabled: true,
      StorageEncrypted: true,
      DeletionProtection: true,
      EngineVersion: '1.4.1.0',
      ServerlessScalingConfiguration: { MinCapacity: 1, MaxCapacity: 4 },
      BackupRetentionPeriod: 7,
    });
    cc.template.resourceCountIs('AWS::Neptune::DBInstance', 1);
    cc.template.hasResourceProperties('AWS::Neptune::DBInstance', { DBInstanceClass: 'db.serverless' });
    cc.template.resourceCountIs('AWS::Neptune::DBSubnetGroup', 1);
  });

  it('port 8182 is open only to the Lambda client security group', () => {
    const [sgId] = resources(cc, 'AWS::EC2::SecurityGroup').find(([, r]) => String(props(r)['GroupDescription']).startsWith('Karma Neptune'))!;
    const clientSg = resources(cc, 'AWS::EC2::SecurityGroup').find(([, r]) => String(props(r)['GroupDescription']).startsWith('Karma Lambdas'))![0];
    const ingress = resources(cc, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) => JSON.stringify(props(r)['GroupId']).includes(sgId));
    expect(ingress).toHaveLength(1);
    expect(props(ingress[0]![1])).toMatchObject({ FromPort: 8182, ToPort: 8182, IpProtocol: 'tcp', SourceSecurityGroupId: { 'Fn::GetAtt': [clientSg, 'GroupId'] } });
    const sg = cc.template.findResources('AWS::EC2::SecurityGroup')[sgId] as Json;
    expect(props(sg)['SecurityGroupIngress']).toBeUndefined();
  });
});

describe('Lambdas', () => {
  it('one function per pipeline step: Node 24, ARM64, X-Ray, in the VPC, env from settings', () => {
    const steps = resources(cc, 'AWS::Lambda::Function').filter(([, r]) => String(props(r)['Description']).startsWith('Karma pipeline step'));
    const clientSg = resources(cc, 'AWS::EC2::SecurityGroup').find(([, r]) => String(props(r)['GroupDescription']).startsWith('Karma Lambdas'))![0];
    const subnets = resources(cc, 'AWS::EC2::Subnet').map(([id]) => id);
    expect(subnets).toHaveLength(2);
    expect(steps).toHaveLength(Object.keys(FUNCTION_SUBSTITUTIONS).length);
    for (const [, r] of steps) {
      const p = props(r);
      expect(p).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], Handler: 'index.handler', TracingConfig: { Mode: 'Active' } });
      expect(p['VpcConfig']).toEqual({ SecurityGroupIds: [{ 'Fn::GetAtt': [clientSg, 'GroupId'] }], SubnetIds: subnets.map((id) => ({ Ref: id })) });
      const env = (p['Environment'] as { Variables: Json }).Variables;
      expect(env).toMatchObject({
        KARMA_BACKEND: 'aws',
        KARMA_MAX_PARALLEL: '6',
        KARMA_LOCK_TTL: '21600',
        KARMA_NEPTUNE_IAM_AUTH: 'true',
        KARMA_CONFIG: 'https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/karma-config',
      });
      expect(JSON.stringify(env['KARMA_NEPTUNE_ENDPOINT'])).toContain(':8182/gremlin');
    }
  });

  it('private GitHub repo (gitHub.tokenSecretName): the steps that load the config get KARMA_GIT_TOKEN_SECRET and read on that secret only', () => {
    // Prepare
    const priv = synth({ ...GITHUB_SETTINGS, configRepo: { github: { owner: 'acme', repo: 'infra-config', tokenSecretName: 'karma/github-token' } } });
    const steps = resources(priv, 'AWS::Lambda::Function').filter(([, r]) => String(props(r)['Description']).startsWith('Karma pipeline step'));

    // Assess
    for (const [, r] of steps) expect((props(r)['Environment'] as { Variables: Json }).Variables['KARMA_GIT_TOKEN_SECRET']).toBe('karma/github-token');
    const readers = resources(priv, 'AWS::IAM::Policy').filter(([id, r]) => id.startsWith('Pipeline') && JSON.stringify(r).includes('secretsmanager:GetSecretValue'));
    expect(readers.map(([id]) => id.replace(/ServiceRoleDefaultPolicy.*/, '').replace(/^PipelineApplyRole(karma[a-z]+).*/, 'PipelineApplyRole-$1')).sort()).toEqual([
      'PipelineAcquireLock',
      'PipelineApplyRole-karmadev',
      'PipelineApplyRole-karmaprod',
      'PipelineBuild',
      'PipelinePlan',
      'PipelineReleaseLock',
      'PipelineSummarize',
    ]);
    for (const [id, r] of readers.filter(([x]) => !x.startsWith('PipelineApplyRole'))) {
      const statement = (props(r)['PolicyDocument'] as { Statement: Json[] }).Statement.find((st) => JSON.stringify(st['Action']).includes('secretsmanager:GetSecretValue'))!;
      expect(JSON.stringify(statement['Resource']), id).toMatch(/:secret:karma\/github-token-\?\?\?\?\?\?"\]\]\}$/);
    }
    // Without the setting nothing changes.
    for (const [, r] of resources(gh, 'AWS::Lambda::Function')) expect(JSON.stringify(props(r)['Environment'] ?? {})).not.toContain('KARMA_GIT_TOKEN_SECRET');
  });

  it('snapshots: KARMA_SNAPSHOT_BUCKET and KARMA_SNAPSHOT_PREFIX match the S3 grant (snapshots/*)', () => {
    const [, build] = resources(cc, 'AWS::Lambda::Function').find(([id]) => id.startsWith('PipelineBuild'))!;
    const env = (props(build)['Environment'] as { Variables: Json }).Variables;
    expect(env['KARMA_SNAPSHOT_PREFIX']).toBe('snapshots/');
    expect(JSON.stringify(env['KARMA_SNAPSHOT_BUCKET'])).toMatch(/PipelineSnapshots[0-9A-F]{8}/);
    const [, policy] = resources(cc, 'AWS::IAM::Policy').find(([id]) => id.startsWith('PipelineBuildServiceRoleDefaultPolicy'))!;
    expect(JSON.stringify(policy)).toMatch(/PipelineSnapshots[0-9A-F]{8}","Arn"\]\},"\/snapshots\/\*"/);
  });

  it('neptune-db grants: only the graph-writing steps, scoped to the cluster resource id', () => {
    // The API's functions: api.test.ts.
    const policies = resources(cc, 'AWS::IAM::Policy').filter(([id, r]) => id.startsWith('Pipeline') && JSON.stringify(r).includes('neptune-db:'));
    expect(policies.map(([id]) => id.replace(/ServiceRoleDefaultPolicy.*/, '')).sort()).toEqual(['PipelineBuild', 'PipelinePlan', 'PipelineSummarize']);
    for (const [, r] of policies) {
      const statement = (props(r)['PolicyDocument'] as { Statement: Json[] }).Statement.find((s) => JSON.stringify(s['Action']).includes('neptune-db'))!;
      expect([...(statement['Action'] as string[])].sort()).toEqual(['neptune-db:DeleteDataViaQuery', 'neptune-db:ReadDataViaQuery', 'neptune-db:WriteDataViaQuery', 'neptune-db:connect']);
      expect(JSON.stringify(statement['Resource'])).toMatch(/neptune-db:eu-west-1:123456789012:",\{"Fn::GetAtt":\["GraphCluster[0-9A-F]+","ClusterResourceId"\]\},"\/\*"/);
    }
  });

  it('lock steps get SSM on <prefix>-locks/* only; no step writes outside its paths', () => {
    const text = JSON.stringify(cc.template.toJSON());
    expect(text).toContain('parameter/karma-locks/*');
    const lockPolicies = resources(cc, 'AWS::IAM::Policy').filter(([, r]) => JSON.stringify(r).includes('karma-locks'));
    expect(lockPolicies.map(([id]) => id.replace(/ServiceRoleDefaultPolicy.*/, '')).sort()).toEqual(['PipelineAcquireLock', 'PipelineReleaseLock']);
    for (const [, r] of resources(cc, 'AWS::IAM::Policy')) {
      for (const s of (props(r)['PolicyDocument'] as { Statement: Json[] }).Statement) {
        if (JSON.stringify(s['Action']).includes('ssm:PutParameter')) expect(JSON.stringify(s['Resource'])).toMatch(/parameter\/karma(-locks|\/karma-dev|\/karma-prod)?\/\*/);
      }
    }
  });

  it('SSM reads are the calls the SSM adapter makes: no GetParameterHistory, which nothing calls', () => {
    const reads = new Set(
      resources(cc, 'AWS::IAM::Policy')
        .flatMap(([, r]) => (props(r)['PolicyDocument'] as { Statement: Json[] }).Statement)
        .flatMap((st) => ([] as string[]).concat(st['Action'] as string))
        .filter((a) => a.startsWith('ssm:Get')),
    );
    expect([...reads].sort()).toEqual(['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath']);
  });
});

describe('state machine', () => {
  it('an execution is bounded by the lock TTL (settings lockTtlSeconds): it cannot outlive its environment lock', () => {
    // Prepare
    const custom = synth({ ...CODECOMMIT_SETTINGS, lockTtlSeconds: 4 * 3600 });
    // Assess
    const timeoutOf = (s: Synthesized) => (JSON.parse(String(props(resources(s, 'AWS::StepFunctions::StateMachine')[0]![1])['DefinitionString'])) as Json)['TimeoutSeconds'];
    expect(timeoutOf(custom)).toBe(custom.stack.settings.lockTtlSeconds);
    expect(timeoutOf(custom)).toBe(4 * 3600);
    expect(timeoutOf(cc)).toBe(cc.stack.settings.lockTtlSeconds);
    expect(() => synth({ ...CODECOMMIT_SETTINGS, lockTtlSeconds: 600 })).toThrow(
      'lockTtlSeconds 600 bounds every execution, but one build may run 7200 s (ApplyComponent\'s TimeoutSeconds): set lockTtlSeconds to at least 7200 (default 21600)',
    );
  });

  it('logging ALL to a log group, X-Ray on, STANDARD', () => {
    cc.template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    cc.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: true, Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }] },
    });
  });

  it('is the ASL file as-is plus the execution timeout, with every ${...} placeholder substituted (functions and the CodeBuild project prefix)', () => {
    const [, sm] = resources(cc, 'AWS::StepFunctions::StateMachine')[0]!;
    const p = props(sm);
    const staged = String(p['DefinitionString']);
    const file = JSON.parse(readFileSync(DEFINITION_FILE, 'utf8')) as Json;
    // The deployed definition is statemachines/pipeline.asl.json with one top-level field added.
    const { TimeoutSeconds, ...rest } = JSON.parse(staged) as Json;
    expect(rest).toEqual(file);
    expect(TimeoutSeconds).toBe(21600);
    const substitutions = p['DefinitionSubstitutions'] as Record<string, unknown>;
    expect(Object.keys(substitutions).sort()).toEqual([...Object.keys(FUNCTION_SUBSTITUTIONS), CODEBUILD_SUBSTITUTION].sort());
    let deployed = staged;
    for (const [key, value] of Object.entries(substitutions)) deployed = deployed.split(`\${${key}}`).join(`resolved:${JSON.stringify(value).replace(/"/g, "'")}`);
    expect(deployed).not.toMatch(/\$\{/);
    for (const key of Object.keys(FUNCTION_SUBSTITUTIONS)) expect(JSON.stringify(substitutions[key])).toMatch(/"Fn::GetAtt":\["Pipeline[A-Za-z]+[0-9A-F]{8}","Arn"\]/);
    expect(substitutions[CODEBUILD_SUBSTITUTION]).toBe('Karma-apply');
    const apply = JSON.parse(deployed) as { States: { ApplyWave: { ItemProcessor: { States: { ApplyComponent: { Parameters: Json } } } } } };
    // ApplyComponent starts the project of the item's environment, named as the construct names it.
    expect(apply.States.ApplyWave.ItemProcessor.States.ApplyComponent.Parameters['ProjectName.$']).toBe("States.Format('{}-{}', 'resolved:'Karma-apply'', $.env)");
    expect(resources(cc, 'AWS::CodeBuild::Project').map(([, r]) => props(r)['Name']).sort()).toEqual(
      Object.keys(cc.stack.settings.environments).map((env) => applyProjectName('Karma-apply', env)).sort(),
    );
  });

  it('may start/poll/stop builds of the per-environment projects only and invoke only its functions', () => {
    const [, policy] = resources(cc, 'AWS::IAM::Policy').find(([id]) => id.startsWith('PipelineStateMachineRole'))!;
    const statements = (props(policy)['PolicyDocument'] as { Statement: Json[] }).Statement;
    const cb = statements.filter((s) => JSON.stringify(s['Action']).includes('codebuild:'));
    expect(cb).toHaveLength(1);
    const projectIds = resources(cc, 'AWS::CodeBuild::Project').map(([id]) => id).sort();
    expect(projectIds).toHaveLength(2);
    expect(cb[0]!['Resource']).toEqual(projectIds.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })));
    expect(JSON.stringify(statements)).toContain('rule/StepFunctionsGetEventForCodeBuildStartBuildRule');
  });
});

describe('CodeBuild: one project and role per environment', () => {
  const ENVS = { 'karma-dev': 'arn:aws:iam::123456789012:role/karma-deploy-dev', 'karma-prod': 'arn:aws:iam::210987654321:role/karma-deploy-prod' } as const;

  function projectOf(env: string): [string, Json] {
    const found = resources(cc, 'AWS::CodeBuild::Project').filter(([, r]) => props(r)['Name'] === `Karma-apply-${env}`);
    expect(found, env).toHaveLength(1);
    return [found[0]![0], props(found[0]![1])];
  }
  function roleOf(env: string): { id: string; role: Json; statements: Json[] } {
    const [id, role] = resources(cc, 'AWS::IAM::Role').find(([, r]) => props(r)['RoleName'] === `Karma-apply-${env}`)!;
    const policies = resources(cc, 'AWS::IAM::Policy').filter(([, r]) => JSON.stringify(props(r)['Roles']) === JSON.stringify([{ Ref: id }]));
    return { id, role: props(role), statements: policies.flatMap(([, r]) => (props(r)['PolicyDocument'] as { Statement: Json[] }).Statement) };
  }
  const withAction = (statements: Json[], prefix: string) => statements.filter((st) => ([] as string[]).concat(st['Action'] as string).some((a) => a.startsWith(prefix)));

  it('ARM image, encrypted, buildspec runs the one karma component command with the deploy-role profile', () => {
    cc.template.resourceCountIs('AWS::CodeBuild::Project', 2);
    const keys = resources(cc, 'AWS::KMS::Key').map(([id]) => id);
    expect(keys).toHaveLength(1);
    const keyId = keys[0]!;
    for (const env of Object.keys(ENVS)) {
      const [, p] = projectOf(env);
      expect(p['Environment']).toMatchObject({ Type: 'ARM_CONTAINER', PrivilegedMode: false });
      expect(p['EncryptionKey']).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
      const spec = String((p['Source'] as Json)['BuildSpec']);
      expect(spec).toContain('npm ci');
      expect(spec).toContain('sha256sum -c');
      expect(spec).toContain('git -C /tmp/config checkout --quiet \\"$KARMA_COMMIT\\"');
      expect(spec).toContain('credential_source = EcsContainer');
      expect(spec).toContain('npx karma component \\"$KARMA_MODE\\" \\"$KARMA_COMPONENT\\" \\"$KARMA_ENV\\" --commit \\"$KARMA_COMMIT\\" --backend aws');
    }
  });

  it('each project knows its own environment\'s deploy role only and runs as its own named role', () => {
    for (const [env, deployRole] of Object.entries(ENVS)) {
      const [, p] = projectOf(env);
      const vars = Object.fromEntries((((p['Environment'] as Json)['EnvironmentVariables']) as { Name: string; Value: unknown }[]).map((v) => [v.Name, v.Value]));
      expect(JSON.parse(String(vars['KARMA_DEPLOY_ROLES']))).toEqual({ [env]: deployRole });
      expect(p['ServiceRole']).toEqual({ 'Fn::GetAtt': [roleOf(env).id, 'Arn'] });
      expect(roleOf(env).role['AssumeRolePolicyDocument']).toEqual({
        Version: '2012-10-17',
        Statement: [{
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'codebuild.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': '123456789012', 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:codebuild:eu-west-1:123456789012:project/Karma-apply-${env}`]] } } },
        }],
      });
    }
  });

  it('each role may assume only its environment\'s deploy role, write only <prefix>/<env>/*, and holds no admin rights', () => {
    for (const [env, deployRole] of Object.entries(ENVS)) {
      const { statements } = roleOf(env);
      const assume = withAction(statements, 'sts:');
      expect(assume).toHaveLength(1);
      expect(assume[0]!['Resource']).toBe(deployRole);
      const writes = statements.filter((st) => ([] as string[]).concat(st['Action'] as string).some((a) => /^ssm:(Put|Delete|AddTags|Label)/.test(a)));
      expect(writes).toHaveLength(1);
      expect(writes[0]!['Resource']).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:ssm:eu-west-1:123456789012:parameter/karma/${env}/*`]] });
      expect(JSON.stringify(statements)).not.toMatch(/"Action":"\*"|"\*:\*"/);
    }
  });

  it('providers come from the environment\'s own prefix of the cache bucket, restored and saved by every build', () => {
    const [bucketId] = resources(cc, 'AWS::S3::Bucket').find(([id]) => id.startsWith('PipelineProviderCache'))!;
    for (const env of Object.keys(ENVS)) {
      const [, p] = projectOf(env);
      expect(p['Cache']).toEqual({ Type: 'S3', Location: { 'Fn::Join': ['', [{ Ref: bucketId }, `/${PROVIDER_CACHE_PREFIX}/${env}`]] } });
      const spec = JSON.parse(String((p['Source'] as Json)['BuildSpec'])) as { env: { variables: Record<string, string> }; cache: { paths: string[] } };
      expect(spec.env.variables['TF_PLUGIN_CACHE_DIR']).toBe(PLUGIN_CACHE_DIR);
      expect(spec.cache.paths).toEqual([`${PLUGIN_CACHE_DIR}/**/*`]);
      // the role reaches objects under its own prefix only
      const cacheGrants = roleOf(env).statements.filter((st) => JSON.stringify(st['Resource']).includes(bucketId));
      const objectResources = cacheGrants.filter((st) => JSON.stringify(st['Action']).includes('Object')).map((st) => st['Resource']);
      expect(objectResources).toEqual([{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/${PROVIDER_CACHE_PREFIX}/${env}/*`]] }]);
    }
    // the bucket: encrypted, TLS only, private, access-logged, expiring when unused
    const bucket = props(resources(cc, 'AWS::S3::Bucket').find(([id]) => id === bucketId)![1]);
    expect(bucket['BucketEncryption']).toEqual({ ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    expect(bucket['PublicAccessBlockConfiguration']).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket['LoggingConfiguration']).toMatchObject({ LogFilePrefix: 'provider-cache/' });
    expect(JSON.stringify(bucket['LifecycleConfiguration'])).toContain('"ExpirationInDays":30');
  });

  it('role names are fixed (<stack>-apply-<env>) and output; a name IAM cannot hold fails the synth with the fix', () => {
    for (const env of Object.keys(ENVS)) {
      cc.template.hasOutput(`ApplyRoleArn${env.replace(/[^A-Za-z0-9]/g, '')}`, { Value: { 'Fn::GetAtt': [roleOf(env).id, 'Arn'] } });
    }
    const long = 'x'.repeat(60);
    expect(() => synth({ ...CODECOMMIT_SETTINGS, environments: { [long]: { deployRoleArn: ENVS['karma-dev'] } } })).toThrow(
      `environment ${long}: its CodeBuild project and role would be named Karma-apply-${long} (72 characters); IAM role names are at most 64: shorten the stack name (settings stackName) or the environment name`,
    );
  });
});

describe('bucket and notifications', () => {
  it('snapshot bucket: encrypted, TLS only, public access blocked, lifecycle expiry, access logs', () => {
    const [id, bucket] = resources(cc, 'AWS::S3::Bucket').find(([id]) => id.startsWith('PipelineSnapshots'))!;
    expect(props(bucket)).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 90, Status: 'Enabled' })] },
      LoggingConfiguration: { DestinationBucketName: { Ref: expect.stringMatching(/^PipelineAccessLogs/) }, LogFilePrefix: 'snapshots/' },
    });
    const policy = resources(cc, 'AWS::S3::BucketPolicy').find(([, r]) => JSON.stringify(props(r)['Bucket']).includes(id))!;
    expect(JSON.stringify(policy[1])).toContain('"aws:SecureTransport":"false"');
  });

  it('Terraform state bucket: versioned, encrypted, TLS only, public access blocked, retained; each deploy role reaches its environment\'s keys only; CodeBuild names it', () => {
    // Prepare
    const [id, bucket] = resources(cc, 'AWS::S3::Bucket').find(([id]) => id.startsWith('PipelineTerraformState'))!;
    // Assess
    expect(bucket['DeletionPolicy']).toBe('Retain');
    expect(props(bucket)).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LoggingConfiguration: { LogFilePrefix: 'tfstate/' },
    });
    const policy = resources(cc, 'AWS::S3::BucketPolicy').find(([, r]) => JSON.stringify(props(r)['Bucket']).includes(id))!;
    const statements = (props(policy[1])['PolicyDocument'] as { Statement: Json[] }).Statement;
    expect(JSON.stringify(statements)).toContain('"aws:SecureTransport":"false"');
    const objects = statements.filter((st) => JSON.stringify(st['Action']).includes('s3:PutObject'));
    expect(objects.map((st) => [JSON.stringify((st['Principal'] as Json)['AWS']), JSON.stringify(st['Resource'])])).toEqual([
      [expect.stringContaining('karma-deploy-dev'), expect.stringContaining('/karma-dev/*')],
      [expect.stringContaining('karma-deploy-prod'), expect.stringContaining('/karma-prod/*')],
    ]);
    const [, project] = resources(cc, 'AWS::CodeBuild::Project').find(([, r]) => props(r)['Name'] === 'Karma-apply-karma-prod')!;
    const vars = Object.fromEntries((((props(project)['Environment'] as Json)['EnvironmentVariables']) as { Name: string; Value: unknown }[]).map((v) => [v.Name, v.Value]));
    expect(vars['KARMA_STATE_BUCKET']).toEqual({ Ref: id });
    cc.template.hasOutput('TerraformStateBucket', { Value: { Ref: id } });
  });

  it('failed, timed-out or aborted executions go to the SNS topic', () => {
    cc.template.resourceCountIs('AWS::SNS::Topic', 1);
    cc.template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['aws.states'], 'detail-type': ['Step Functions Execution Status Change'], detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [Match.anyValue()] } },
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^PipelineNotifications') }, DeadLetterConfig: Match.anyValue() })],
    });
    gh.template.resourceCountIs('AWS::SNS::Subscription', 1);
  });
});

describe('triggers', () => {
  function ruleWith(s: Synthesized, pattern: Json): Json {
    const found = resources(s, 'AWS::Events::Rule').filter(([, r]) => JSON.stringify(props(r)['EventPattern']) === JSON.stringify(s.stack.resolve(pattern)));
    expect(found).toHaveLength(1);
    return props(found[0]![1]);
  }
  function startTarget(rule: Json): Json {
    const targets = rule['Targets'] as Json[];
    expect(targets).toHaveLength(1);
    const t = targets[0]!;
    expect(JSON.stringify(t['Arn'])).toMatch(/PipelineStateMachine/);
    expect(t['RetryPolicy']).toEqual({ MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 });
    expect(JSON.stringify(t['DeadLetterConfig'])).toMatch(/TriggersDeadLetters/);
    return t['InputTransformer'] as Json;
  }

  it('SSM change: outputs under the prefix and the external paths (never state or locks), passes {trigger, parameter, event}', () => {
    const rule = ruleWith(cc, ssmChangePattern('/karma', cc.stack.settings.readableParameterPaths));
    expect((rule['EventPattern'] as Json)['detail']).toEqual({
      operation: ['Create', 'Update', 'Delete', 'LabelParameterVersion'],
      name: [{ wildcard: '/karma/*/*/outputs/*' }, ...cc.stack.settings.readableParameterPaths.map((p) => ({ prefix: p }))],
    });
    const input = startTarget(rule);
    expect(input['InputPathsMap']).toEqual({ 'detail-name': '$.detail.name', f2: '$' });
    expect(input['InputTemplate']).toBe('{"trigger":"ssm-change","parameter":<detail-name>,"event":<f2>}');
  });

  it('CodeCommit push: tracked branch of the config repo, passes {trigger, ref, commit, event}', () => {
    const repoArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':codecommit:eu-west-1:123456789012:karma-config']] };
    const rule = ruleWith(cc, { ...codeCommitPushPattern('X', 'karma-config', 'main'), resources: [repoArn] });
    const input = startTarget(rule);
    expect(input['InputPathsMap']).toEqual({ 'detail-referenceName': '$.detail.referenceName', 'detail-commitId': '$.detail.commitId', f3: '$' });
    expect(input['InputTemplate']).toBe('{"trigger":"git-push","ref":<detail-referenceName>,"commit":<detail-commitId>,"event":<f3>}');
  });

  it('GitHub: function URL (auth NONE) → PutEvents on the Karma bus → rule on that bus starts the pipeline', () => {
    gh.template.resourceCountIs('AWS::Events::EventBus', 1);
    gh.template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE' });
    const rule = ruleWith(gh, gitHubPushPattern('acme', 'infra-config', 'main'));
    expect(JSON.stringify(rule['EventBusName'])).toMatch(/TriggersBus/);
    expect(startTarget(rule)['InputTemplate']).toBe('{"trigger":"git-push","ref":"main","commit":<detail-commit>,"event":<f2>}');
    const [, webhook] = resources(gh, 'AWS::Lambda::Function').find(([, r]) => String(props(r)['Description']).startsWith('Karma: GitHub push webhook'))!;
    expect(props(webhook)).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'] });
    const [, policy] = resources(gh, 'AWS::IAM::Policy').find(([id]) => id.startsWith('TriggersWebhookServiceRole'))!;
    const text = JSON.stringify(policy);
    expect(text).toContain('events:PutEvents');
    expect(text).toContain('secretsmanager:GetSecretValue');
    gh.template.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'karma/github-webhook' });
  });

  it('drift schedule from settings starts a drift run', () => {
    const rule = resources(gh, 'AWS::Events::Rule').map(([, r]) => props(r)).find((r) => r['ScheduleExpression'] === 'rate(12 hours)')!;
    expect(startTarget(rule)).toBeUndefined();
    expect((rule['Targets'] as Json[])[0]!['Input']).toBe('{"trigger":"schedule","mode":"drift"}');
  });

  it('the dead-letter queue is encrypted and TLS-only', () => {
    cc.template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true });
    const policies = resources(cc, 'AWS::SQS::QueuePolicy');
    expect(JSON.stringify(policies)).toContain('"aws:SecureTransport":"false"');
  });
});

describe('webhook hardening, dead letters, service principals', () => {
  it('the webhook has reserved concurrency (setting, default 5) and may only claim/release deliveries/* in its replay bucket', () => {
    // Prepare
    const custom = synth({ ...GITHUB_SETTINGS, configRepo: { github: { owner: 'acme', repo: 'infra-config', reservedConcurrency: 2 } } });
    const webhookOf = (s: Synthesized) => resources(s, 'AWS::Lambda::Function').find(([, r]) => String(props(r)['Description']).startsWith('Karma: GitHub push webhook'))!;
    // Assess
    expect(props(webhookOf(gh)[1])['ReservedConcurrentExecutions']).toBe(5);
    expect(props(webhookOf(custom)[1])['ReservedConcurrentExecutions']).toBe(2);
    const [bucketId, bucket] = resources(gh, 'AWS::S3::Bucket').find(([id]) => id.startsWith('TriggersWebhookDeliveries'))!;
    expect(JSON.stringify(props(bucket)['LifecycleConfiguration'])).toContain(`"ExpirationInDays":${DELIVERY_RETENTION_DAYS}`);
    expect(((props(webhookOf(gh)[1])['Environment'] as { Variables: Json }).Variables)['KARMA_DELIVERY_BUCKET']).toEqual({ Ref: bucketId });
    const [, policy] = resources(gh, 'AWS::IAM::Policy').find(([id]) => id.startsWith('TriggersWebhookServiceRole'))!;
    const s3 = (props(policy)['PolicyDocument'] as { Statement: Json[] }).Statement.filter((st) => JSON.stringify(st['Action']).includes('s3:'));
    expect(s3).toEqual([{ Effect: 'Allow', Action: ['s3:PutObject', 's3:DeleteObject'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/deliveries/*']] } }]);
    // no GitHub, no webhook bucket
    expect(resources(cc, 'AWS::S3::Bucket').some(([id]) => id.startsWith('TriggersWebhookDeliveries'))).toBe(false);
  });

  it('a message in the dead-letter queue raises an alarm to the topic', () => {
    const alarms = resources(cc, 'AWS::CloudWatch::Alarm');
    expect(alarms).toHaveLength(1);
    const [, alarm] = alarms[0]!;
    expect(props(alarm)).toMatchObject({
      AlarmName: 'Karma-dead-letters',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [expect.stringMatching(/^TriggersDeadLetters/), 'QueueName'] } }],
      AlarmActions: [{ Ref: expect.stringMatching(/^PipelineNotifications/) }],
    });
  });

  it('every service principal on the topic and the key is held to this account (and the alarm\'s ARN); no events.amazonaws.com grant there', () => {
    for (const s of [cc, gh]) {
      const statements = [...resources(s, 'AWS::SNS::TopicPolicy'), ...resources(s, 'AWS::KMS::Key')].flatMap(([, r]) =>
        ((props(r)['PolicyDocument'] ?? props(r)['KeyPolicy']) as { Statement: Json[] }).Statement,
      );
      const services = statements.filter((st) => st['Effect'] === 'Allow' && JSON.stringify(st['Principal'] ?? {}).includes('"Service"'));
      expect(services.map((st) => (st['Principal'] as Json)['Service']).sort()).toEqual(['cloudwatch.amazonaws.com', 'cloudwatch.amazonaws.com']);
      for (const st of services) {
        expect((st['Condition'] as Json)['StringEquals']).toEqual({ 'aws:SourceAccount': '123456789012' });
        expect(JSON.stringify((st['Condition'] as Json)['ArnLike'])).toContain(':cloudwatch:eu-west-1:123456789012:alarm:Karma-dead-letters');
      }
      const kms = services.filter((st) => JSON.stringify(st['Action']).includes('kms:'));
      expect(kms).toHaveLength(1);
      expect(kms[0]!['Action']).toEqual(['kms:GenerateDataKey*', 'kms:Decrypt']);
      expect(JSON.stringify(statements)).not.toContain('events.amazonaws.com');
    }
  });

  it('failed executions reach the topic through a role trusted by EventBridge of this account only, with publish and the key\'s GenerateDataKey/Decrypt', () => {
    const [roleId, role] = resources(cc, 'AWS::IAM::Role').find(([id]) => id.startsWith('TriggersFailureNotifyRole'))!;
    expect((props(role)['AssumeRolePolicyDocument'] as { Statement: Json[] }).Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Condition: { StringEquals: { 'aws:SourceAccount': '123456789012' } } },
    ]);
    const [, policy] = resources(cc, 'AWS::IAM::Policy').find(([, r]) => JSON.stringify(props(r)['Roles']) === JSON.stringify([{ Ref: roleId }]))!;
    const actions = (props(policy)['PolicyDocument'] as { Statement: Json[] }).Statement.flatMap((st) => ([] as string[]).concat(st['Action'] as string)).sort();
    expect(actions).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*', 'sns:Publish']);
    cc.template.hasResourceProperties('AWS::Events::Rule', { Targets: [Match.objectLike({ RoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] } })] });
  });
});

describe('outputs', () => {
  it('a CLI can reach Neptune from the outputs: endpoint, host, port, the client security group, VPC, subnets, IAM resource', () => {
    const outputs = cc.template.toJSON()['Outputs'] as Record<string, { Value: unknown }>;
    const [clusterId] = resources(cc, 'AWS::Neptune::DBCluster')[0]!;
    const [clientSg] = resources(cc, 'AWS::EC2::SecurityGroup').find(([, r]) => String(props(r)['GroupDescription']).startsWith('Karma Lambdas'))!;
    expect(outputs['NeptuneHost']!.Value).toEqual({ 'Fn::GetAtt': [clusterId, 'Endpoint'] });
    expect(outputs['NeptunePort']!.Value).toBe('8182');
    expect(outputs['NeptuneClientSecurityGroupId']!.Value).toEqual({ 'Fn::GetAtt': [clientSg, 'GroupId'] });
    expect(JSON.stringify(outputs['NeptuneEndpoint']!.Value)).toContain(':8182/gremlin');
    expect(outputs['VpcId']!.Value).toEqual({ Ref: expect.stringMatching(/^NetworkVpc/) });
    expect(JSON.stringify(outputs['PrivateSubnetIds']!.Value)).toMatch(/NetworkVpcprivateSubnet1.*NetworkVpcprivateSubnet2/);
    expect(JSON.stringify(outputs['NeptuneDataArn']!.Value)).toContain('ClusterResourceId');
  });

  it('the CodeBuild role and project of every environment are outputs (deploy roles trust the role by that ARN)', () => {
    const outputs = cc.template.toJSON()['Outputs'] as Record<string, { Value: unknown }>;
    for (const env of ['karma-dev', 'karma-prod']) {
      const key = env.replace(/[^A-Za-z0-9]/g, '');
      const [roleId] = resources(cc, 'AWS::IAM::Role').find(([, r]) => props(r)['RoleName'] === `Karma-apply-${env}`)!;
      const [projectId] = resources(cc, 'AWS::CodeBuild::Project').find(([, r]) => props(r)['Name'] === `Karma-apply-${env}`)!;
      expect(outputs[`ApplyRoleArn${key}`]!.Value).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
      expect(outputs[`ApplyProject${key}`]!.Value).toEqual({ Ref: projectId });
    }
    expect(outputs['CodeBuildProjectPrefix']!.Value).toBe('Karma-apply');
  });
});
