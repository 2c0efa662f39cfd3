/**
 * KarmaPipeline: the state machine (statemachines/pipeline.asl.json, deployed as-is through
 * with a top-level TimeoutSeconds = the lock TTL added, and definitionSubstitutions), one NodejsFunction per step (Node 24, ARM64, bundled by
 * the local esbuild: never Docker), the snapshot bucket, the CodeBuild projects (one per environment) that run
 * `karma component <mode> <component> <env>`, and the failure/drift topic.
 *
 * IAM is computed here: SSM on `<prefix>/*` and `<prefix>-locks/*` only, neptune-db on the cluster resource
 * id only (for the steps that write the graph). CodeBuild: one project and role per environment
 * (`<stack>-apply-<env>`), which may assume that environment's deploy role only and write `<prefix>/<env>/*` only.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { applyProjectName, applyTaskTimeoutSeconds, CODEBUILD_SUBSTITUTION, FUNCTION_SUBSTITUTIONS, unknownMatchedErrors, type HandlerName } from '../core/pipeline-contract.ts';
import type { NeptuneCluster } from './graph.ts';
import { buildSpec } from './buildspec.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFINITION_FILE = join(REPO_ROOT, 'statemachines', 'pipeline.asl.json');

/** ApplyWave.ApplyComponent's TimeoutSeconds in the definition file (see the pipeline contract). */
const applyTimeoutSeconds = (): number => applyTaskTimeoutSeconds(JSON.parse(readFileSync(DEFINITION_FILE, 'utf8')) as Record<string, unknown>);

/** Steps that open the graph store and write to Neptune. */
export const GRAPH_WRITERS: ReadonlySet<HandlerName> = new Set(['build', 'plan', 'summarize']);
/** Where CodeBuild keeps the provider cache archive in its bucket. */
export const PROVIDER_CACHE_PREFIX = 'terraform-plugin-cache';

/** IAM's limit on a role name (the per-environment project and role share their name). */
export const IAM_ROLE_NAME_MAX = 64;

/** `<stack>-apply`: every environment's project and role is `<stack>-apply-<env>`. */
export function applyProjectPrefix(stackName: string): string {
  return `${stackName}-apply`;
}

/**
 * The deployed definition: the ASL file with a top-level `TimeoutSeconds` (the lock TTL) inserted after
 * `StartAt`. The file itself carries none, so the setting is the one source of the bound.
 */
export function boundedDefinition(text: string, timeoutSeconds: number): string {
  const asl = JSON.parse(text) as Record<string, unknown>;
  if ('TimeoutSeconds' in asl) {
    throw new Error(`${DEFINITION_FILE}: has a top-level TimeoutSeconds (${String(asl['TimeoutSeconds'])}); remove it: the stack sets it from lockTtlSeconds`);
  }
  const { States, ...head } = asl;
  return JSON.stringify({ ...head, TimeoutSeconds: timeoutSeconds, States }, null, 2);
}

/** Steps that take and release the environment lock (SSM `<prefix>-locks/`). */
export const LOCK_STEPS: ReadonlySet<HandlerName> = new Set(['acquireLock', 'releaseLock']);
/** Steps that may run long (config clone, graph build, SSM reads). */
const LONG_STEPS: ReadonlySet<HandlerName> = new Set(['build', 'plan', 'summarize']);

/** lambdas/<kebab-case>.ts for a handler name. */
export function lambdaEntry(name: string): string {
  return join(REPO_ROOT, 'lambdas', `${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}.ts`);
}

/** NodejsFunction defaults shared by every Karma function: local esbuild, ESM, Node 24 on ARM64, X-Ray. */
export function karmaFunction(scope: Construct, id: string, props: { entry: string; timeout: Duration; environment: Record<string, string>; vpc?: ec2.IVpc; vpcSubnets?: ec2.SubnetSelection; securityGroups?: ec2.ISecurityGroup[]; description: string; memorySize?: number }): NodejsFunction {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY });
  return new NodejsFunction(scope, id, {
    entry: props.entry,
    handler: 'handler',
    description: props.description,
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: props.memorySize ?? 1024,
    timeout: props.timeout,
    tracing: lambda.Tracing.ACTIVE,
    logGroup,
    environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    projectRoot: REPO_ROOT,
    depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
    ...(props.vpc ? { vpc: props.vpc, vpcSubnets: props.vpcSubnets, securityGroups: props.securityGroups } : {}),
    bundling: {
      forceDockerBundling: false,
      format: OutputFormat.ESM,
      target: 'node24',
      minify: true,
      sourceMap: true,
      mainFields: ['module', 'main'],
      // CommonJS dependencies (gremlin, ws) call require(); give the ESM bundle one.
      banner: "import{createRequire as __karmaRequire}from'node:module';const require=__karmaRequire(import.meta.url);",
    },
  });
}

/**
 * What a function needs to load the config (Git), read the runtime store (SSM) and open the graph (Neptune): the
 * build step's environment, shared with the API's read and changes functions (api.ts).
 */
export function configGraphEnvironment(props: { configUrl: string; gremlinUrl: string; gitHubTokenSecretName?: string | undefined }): Record<string, string> {
  return {
    HOME: '/tmp',
    KARMA_CONFIG: props.configUrl,
    KARMA_BACKEND: 'aws',
    KARMA_HISTORY_DIR: '/tmp/karma-history',
    KARMA_NEPTUNE_ENDPOINT: props.gremlinUrl,
    KARMA_NEPTUNE_IAM_AUTH: 'true',
    ...(props.gitHubTokenSecretName ? { KARMA_GIT_TOKEN_SECRET: props.gitHubTokenSecretName } : {}),
  };
}

export interface KarmaPipelineProps {
  readonly network: { vpc: ec2.IVpc; subnets: ec2.SubnetSelection; clientSecurityGroup: ec2.ISecurityGroup };
  readonly graph: NeptuneCluster;
  readonly parameterPrefix: string;
  /** Parameter paths outside the prefix that configs reference with ${ssm:...} (read-only). */
  readonly readableParameterPaths: readonly string[];
  /** KARMA_CONFIG for the Lambdas: the config repo's https Git URL. */
  readonly configUrl: string;
  readonly codeCommitRepositoryArn?: string;
  /**
   * Secrets Manager secret (name) holding a read-only token for a private GitHub config repo: CodeBuild gets it
   * as GITHUB_TOKEN, the step functions that load the config as KARMA_GIT_TOKEN_SECRET (with read access).
   * @default - a public repository (or CodeCommit)
   */
  readonly gitHubTokenSecretName?: string;
  readonly environments: Readonly<Record<string, { deployRoleArn: string }>>;
  readonly maxParallel: number;
  readonly lockTtlSeconds: number;
  readonly terraform: { version: string; sha256?: string };
  readonly snapshotRetentionDays: number;
  readonly notificationEmails: readonly string[];
}

export class KarmaPipeline extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly functions: Record<HandlerName, NodejsFunction>;
  /** The CodeBuild project per environment, named `<stack>-apply-<env>` ({@link applyProjectName}). */
  readonly projects: Readonly<Record<string, codebuild.Project>>;
  /** Each project's role, named like its project (deploy roles trust it by that name). */
  readonly applyRoles: Readonly<Record<string, iam.Role>>;
  /** The state machine's top-level TimeoutSeconds: the lock TTL (settings lockTtlSeconds). */
  readonly executionTimeoutSeconds: number;
  /** `<stack>-apply`: the `${CodeBuildProjectPrefix}` substitution. */
  readonly projectPrefix: string;
  readonly snapshotBucket: s3.Bucket;
  /** Server access logs of Karma's buckets (a prefix each). */
  readonly accessLogsBucket: s3.Bucket;
  /** Terraform state of every deployment, a key per deployment (`<env>/<component>/terraform.tfstate`). */
  readonly stateBucket: s3.Bucket;
  /** CodeBuild's S3 cache: the provider plugin directory (TF_PLUGIN_CACHE_DIR) shared by every build. */
  readonly providerCacheBucket: s3.Bucket;
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  readonly definitionSubstitutions: Record<string, string>;
  /** SSM reads of the runtime store: the prefix and the readable paths (the graph-writing steps hold it; so does the API). */
  readonly runtimeRead: iam.PolicyStatement;

  constructor(scope: Construct, id: string, props: KarmaPipelineProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.key = new kms.Key(this, 'Key', { enableKeyRotation: true, description: 'Karma: notifications, build artifacts', removalPolicy: RemovalPolicy.RETAIN });

    // --- snapshot bucket (and its access-log bucket)
    const accessLogs = (this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    }));
    this.snapshotBucket = new s3.Bucket(this, 'Snapshots', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: false,
      lifecycleRules: [{ expiration: Duration.days(props.snapshotRetentionDays), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'snapshots/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // --- Terraform state: versioned (a bad apply can be rolled back to the previous state), retained when the
    // stack goes, TLS only. SSE-S3 rather than the stack's KMS key: deploy roles in other accounts read and write
    // their environment's state, and a cross-account KMS grant per role would be one more thing to get wrong.
    this.stateBucket = new s3.Bucket(this, 'TerraformState', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: true,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(365), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'tfstate/',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Terraform runs as the environment's deploy role (buildspec.ts): each role reaches its environment's keys only.
    for (const [env, e] of Object.entries(props.environments)) {
      const role = new iam.ArnPrincipal(e.deployRoleArn);
      this.stateBucket.addToResourcePolicy(
        new iam.PolicyStatement({ principals: [role], actions: ['s3:ListBucket'], resources: [this.stateBucket.bucketArn], conditions: { StringLike: { 's3:prefix': [`${env}/*`] } } }),
      );
      this.stateBucket.addToResourcePolicy(
        new iam.PolicyStatement({ principals: [role], actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], resources: [this.stateBucket.arnForObjects(`${env}/*`)] }),
      );
    }

    // --- CodeBuild's S3 cache of the Terraform provider plugin directory (one archive, updated by every build)
    this.providerCacheBucket = new s3.Bucket(this, 'ProviderCache', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      versioned: false,
      // Unused for a month: gone; the next build downloads its providers and saves the cache again.
      lifecycleRules: [{ expiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'provider-cache/',
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });

    // --- notifications
    this.topic = new sns.Topic(this, 'Notifications', { displayName: 'Karma failures and drift', masterKey: this.key, enforceSSL: true });
    for (const email of props.notificationEmails) {
      new sns.Subscription(this, `Email${email.replace(/[^A-Za-z0-9]/g, '')}`, { topic: this.topic, protocol: sns.SubscriptionProtocol.EMAIL, endpoint: email });
    }

    // --- SSM access
    const param = (path: string) => stack.formatArn({ service: 'ssm', resource: 'parameter', resourceName: path.replace(/^\//, '') });
    const prefix = props.parameterPrefix;
    const runtimeRead = (this.runtimeRead = new iam.PolicyStatement({
      actions: ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath'],
      resources: [param(prefix), param(`${prefix}/*`), ...props.readableParameterPaths.flatMap((p) => [param(p), param(`${p.replace(/\/$/, '')}/*`)])],
    }));
    const locks = new iam.PolicyStatement({ actions: ['ssm:GetParameter', 'ssm:PutParameter', 'ssm:DeleteParameter'], resources: [param(`${prefix}-locks/*`)] });

    // --- CodeBuild: one project and role per environment, each running the one `karma component` command per Map
    // item of its environment. A role may assume only its environment's deploy role, write only `<prefix>/<env>/*`
    // and use only `<cache prefix>/<env>/` of the provider cache: a dev build (Terraform local-exec, a buildspec
    // override) cannot reach prod's credentials, outputs or cached providers.
    const source = new s3assets.Asset(this, 'KarmaSource', {
      path: REPO_ROOT,
      exclude: ['node_modules', '.git', 'cdk.out', '.servers', '.karma', 'test', 'bench', 'coverage', '**/.terraform', '*.log'],
    });
    this.projectPrefix = applyProjectPrefix(stack.stackName);
    const projects: Record<string, codebuild.Project> = {};
    const applyRoles: Record<string, iam.Role> = {};
    for (const [env, e] of Object.entries(props.environments).sort(([a], [b]) => a.localeCompare(b))) {
      const name = applyProjectName(this.projectPrefix, env);
      if (name.length > IAM_ROLE_NAME_MAX) {
        throw new Error(
          `environment ${env}: its CodeBuild project and role would be named ${name} (${name.length} characters); IAM role names are at most ${IAM_ROLE_NAME_MAX}: shorten the stack name (settings stackName) or the environment name`,
        );
      }
      const role = new iam.Role(this, `ApplyRole-${env}`, {
        roleName: name,
        assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': stack.account, 'aws:SourceArn': stack.formatArn({ service: 'codebuild', resource: 'project', resourceName: name }) } },
        }),
        description: `Karma: CodeBuild builds of environment ${env}; may assume ${e.deployRoleArn} only`,
      });
      const project = new codebuild.Project(this, `Apply-${env}`, {
        projectName: name,
        role,
        description: `Karma: karma component apply|plan|drift COMPONENT ${env} (one component per build, environment ${env} only)`,
        source: codebuild.Source.s3({ bucket: source.bucket, path: source.s3ObjectKey }),
        environment: {
          buildImage: codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0,
          computeType: codebuild.ComputeType.SMALL,
          privileged: false,
        },
        encryptionKey: this.key,
        // CodeBuild stops a build that runs too long (Terraform with it) a few minutes before the state machine gives up
        // on the task, so an item fails, and the lock is released, only once Terraform has ended.
        timeout: Duration.minutes(Math.floor(applyTimeoutSeconds() / 60) - 5),
        buildSpec: codebuild.BuildSpec.fromObject(buildSpec({ codeCommit: props.codeCommitRepositoryArn !== undefined, gitHubToken: props.gitHubTokenSecretName !== undefined })),
        environmentVariables: {
          KARMA_CONFIG_REPO_URL: { value: props.configUrl },
          KARMA_DEPLOY_ROLES: { value: JSON.stringify({ [env]: e.deployRoleArn }) },
          KARMA_NEPTUNE_ENDPOINT: { value: props.graph.gremlinUrl },
          KARMA_NEPTUNE_IAM_AUTH: { value: 'true' },
          KARMA_STATE_BUCKET: { value: this.stateBucket.bucketName },
          KARMA_STATE_REGION: { value: stack.region },
          TF_VERSION: { value: props.terraform.version },
          TF_SHA256: { value: props.terraform.sha256 ?? '' },
          ...(props.gitHubTokenSecretName
            ? { GITHUB_TOKEN: { type: codebuild.BuildEnvironmentVariableType.SECRETS_MANAGER, value: props.gitHubTokenSecretName } }
            : {}),
        },
        logging: { cloudWatch: { logGroup: new logs.LogGroup(this, `ApplyLogs-${env}`, { retention: logs.RetentionDays.THREE_MONTHS, removalPolicy: RemovalPolicy.DESTROY }) } },
      });
      // The provider cache: this environment's prefix of the dedicated bucket only (Cache.bucket would grant the
      // whole bucket, letting one environment plant providers another one runs).
      const cachePrefix = `${PROVIDER_CACHE_PREFIX}/${env}`;
      (project.node.defaultChild as codebuild.CfnProject).cache = { type: 'S3', location: `${this.providerCacheBucket.bucketName}/${cachePrefix}` };
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [this.providerCacheBucket.arnForObjects(`${cachePrefix}/*`)] }));
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetBucketLocation', 's3:GetBucketAcl'], resources: [this.providerCacheBucket.bucketArn] }));
      // Reads: the whole prefix (a config may read another environment's outputs: ${env:<env>/<component>.<output>}).
      role.addToPrincipalPolicy(runtimeRead);
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ssm:PutParameter', 'ssm:AddTagsToResource'], resources: [param(`${prefix}/${env}/*`)] }));
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sts:AssumeRole', 'sts:TagSession'], resources: [e.deployRoleArn] }));
      if (props.codeCommitRepositoryArn) {
        role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['codecommit:GitPull'], resources: [props.codeCommitRepositoryArn] }));
      }
      projects[env] = project;
      applyRoles[env] = role;
    }
    this.projects = projects;
    this.applyRoles = applyRoles;

    // --- the step functions
    const environment: Record<string, string> = {
      ...configGraphEnvironment({ configUrl: props.configUrl, gremlinUrl: props.graph.gremlinUrl, gitHubTokenSecretName: props.gitHubTokenSecretName }),
      KARMA_SNAPSHOTS: '/tmp/karma-snapshots',
      KARMA_SNAPSHOT_BUCKET: this.snapshotBucket.bucketName,
      KARMA_SNAPSHOT_PREFIX: 'snapshots/',
      KARMA_MAX_PARALLEL: String(props.maxParallel),
      KARMA_LOCK_TTL: String(props.lockTtlSeconds),
      KARMA_NOTIFY_TOPIC_ARN: this.topic.topicArn,
    };
    const gitToken = props.gitHubTokenSecretName ? secretsmanager.Secret.fromSecretNameV2(this, 'GitHubToken', props.gitHubTokenSecretName) : undefined;
    const functions: Partial<Record<HandlerName, NodejsFunction>> = {};
    const substitutions: Record<string, string> = {};
    for (const [key, name] of Object.entries(FUNCTION_SUBSTITUTIONS)) {
      const fnId = key.replace(/FunctionArn$/, '');
      const fn = karmaFunction(this, fnId, {
        entry: lambdaEntry(name),
        description: `Karma pipeline step ${name} (statemachines/pipeline.asl.json)`,
        timeout: LONG_STEPS.has(name) ? Duration.minutes(15) : Duration.minutes(1),
        memorySize: LONG_STEPS.has(name) ? 2048 : 512,
        environment,
        vpc: props.network.vpc,
        vpcSubnets: props.network.subnets,
        securityGroups: [props.network.clientSecurityGroup],
      });
      if (LOCK_STEPS.has(name)) fn.addToRolePolicy(locks);
      if (GRAPH_WRITERS.has(name)) {
        fn.addToRolePolicy(runtimeRead);
        props.graph.grantReadWrite(fn);
        // Delete and list: the snapshot store keeps the newest runs' snapshots (karma.yaml history.keepBuilds) and prunes the rest.
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:GetObject', 's3:DeleteObject'], resources: [this.snapshotBucket.arnForObjects('snapshots/*')] }));
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.snapshotBucket.bucketArn], conditions: { StringLike: { 's3:prefix': ['snapshots/*'] } } }));
      }
      const loadsConfig = name !== 'normalize' && name !== 'record';
      if (props.codeCommitRepositoryArn && loadsConfig) {
        fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['codecommit:GitPull'], resources: [props.codeCommitRepositoryArn] }));
      }
      if (gitToken && loadsConfig) gitToken.grantRead(fn);
      if (name === 'summarize') this.topic.grantPublish(fn);
      // PlanWave records a component whose build died without recording its result as failed (its state only).
      if (name === 'plan') fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ssm:PutParameter'], resources: [param(`${prefix}/*/state`)] }));
      functions[name] = fn;
      substitutions[key] = fn.functionArn;
    }
    this.functions = functions as Record<HandlerName, NodejsFunction>;
    substitutions[CODEBUILD_SUBSTITUTION] = this.projectPrefix;
    this.definitionSubstitutions = substitutions;

    // --- the state machine
    const smLogs = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${stack.stackName}-pipeline`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // The definition's Retry/Catch must only name errors Karma raises under a literal name (minified bundles).
    const unknownErrors = unknownMatchedErrors(JSON.parse(readFileSync(DEFINITION_FILE, 'utf8')) as Record<string, unknown>);
    if (unknownErrors.length > 0) {
      throw new Error(`${DEFINITION_FILE}: ErrorEquals names ${unknownErrors.join(', ')}, which lib/core/pipeline-contract.ts (MATCHED_ERRORS) does not list; add it there and give its class a literal name`);
    }
    if (props.lockTtlSeconds < applyTimeoutSeconds()) {
      throw new Error(
        `lockTtlSeconds ${props.lockTtlSeconds} bounds every execution, but one build may run ${applyTimeoutSeconds()} s (ApplyComponent's TimeoutSeconds): set lockTtlSeconds to at least ${applyTimeoutSeconds()} (default 21600)`,
      );
    }
    this.executionTimeoutSeconds = props.lockTtlSeconds;
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      // The ASL file with one field added: the execution's TimeoutSeconds = the lock TTL, so an execution never
      // outlives the environment lock it took (the lock is taken after the execution started).
      definitionBody: sfn.DefinitionBody.fromString(boundedDefinition(readFileSync(DEFINITION_FILE, 'utf8'), this.executionTimeoutSeconds)),
      definitionSubstitutions: substitutions,
      stateMachineType: sfn.StateMachineType.STANDARD,
      logs: { destination: smLogs, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    for (const fn of Object.values(this.functions)) fn.grantInvoke(this.stateMachine);
    // codebuild:startBuild.sync: start, poll, stop; the managed rule Step Functions uses to learn of the end.
    // Only the per-environment projects: ApplyComponent names one of them from the item's environment.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds'], resources: Object.values(this.projects).map((p) => p.projectArn) }),
    );
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [stack.formatArn({ service: 'events', resource: 'rule', resourceName: 'StepFunctionsGetEventForCodeBuildStartBuildRule' })],
      }),
    );
  }
}
