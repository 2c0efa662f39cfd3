/**
 * KarmaApi: the serverless HTTP API (issue 12), beside the pipeline's resources.
 *
 *   API Gateway HTTP API   one route per API_ROUTES entry (lib/core/pipeline-contract.ts), on its group's function;
 *                          `meta` routes open, every other route IAM (SigV4) by default or a JWT authorizer
 *   one function per group API_FUNCTION_ENTRIES; `read` and `changes` are wired like the pipeline's build step
 *                          (config repo, runtime store, Neptune, in the VPC); `meta` and `ops` run outside the VPC
 *   $default stage         default route throttling, JSON access logs to a log group
 *   audit table            DynamoDB, log (S) + id (S), GSI byChange (change + id), PITR, Karma's KMS key, retained
 *   role policies          one managed policy per role (read ⊆ propose ⊆ apply): execute-api:Invoke on exactly
 *                          that role's routes; operators attach them to people and roles (IAM auth)
 *
 * Authorization: with IAM auth, API Gateway checks the caller's SigV4 signature and its execute-api:Invoke
 * grant on the route, so the role policies ARE the roles and the functions get KARMA_API_AUTH=iam. With a JWT
 * authorizer, API Gateway checks the token (issuer, audience, expiry) and the functions read the caller's roles
 * from the claim named in KARMA_API_ROLES_CLAIM (KARMA_API_AUTH=jwt).
 *
 * IAM is computed here. Audit table: PutItem/GetItem/Query only (an entry is never updated nor deleted; the
 * conditional put that refuses to overwrite is the code's). Git: `read` pulls; `changes` also pushes, on
 * CodeCommit only to `karma/proposals/*` and the tracked branch (apply merges a proposal into it).
 */
import { Annotations, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { durableTable } from './tables.ts';
import { join } from 'node:path';
import { API_FUNCTION_ENTRIES, API_GROUPS, API_ROLES, API_ROUTES, type ApiGroup, type ApiRole, type ApiRoute } from '../core/pipeline-contract.ts';
import type { NeptuneCluster } from './graph.ts';
import { karmaFunction, REPO_ROOT } from './pipeline.ts';

/** The audit table's keys (lib/adapters/dynamodb writes them): one partition per log, entries sorted by id. */
export const AUDIT_TABLE_KEYS = { partition: 'log', sort: 'id' } as const;
/** The index that lists one change's entries. */
export const AUDIT_BY_CHANGE_INDEX = { name: 'byChange', partition: 'change', sort: 'id' } as const;
/** The claim a JWT carries the caller's roles in, unless settings say otherwise. */
export const DEFAULT_ROLES_CLAIM = 'karma:roles';
/** The stage's throttling unless settings say otherwise. */
export const DEFAULT_API_THROTTLE = { rateLimit: 20, burstLimit: 40 } as const;

/** What the functions see in KARMA_API_AUTH. */
export type ApiAuth = 'iam' | { readonly jwt: { readonly issuer: string; readonly audience: readonly string[]; readonly rolesClaim?: string } };

/**
 * The access log line (JSON). Who called: the IAM caller and user ARN with SigV4, the token's subject with JWT
 * (the other fields are `-` then). requestId is required by API Gateway.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: '$context.requestId',
  time: '$context.requestTime',
  ip: '$context.identity.sourceIp',
  caller: '$context.identity.caller',
  user: '$context.identity.user',
  userArn: '$context.identity.userArn',
  jwtSubject: '$context.authorizer.claims.sub',
  method: '$context.httpMethod',
  routeKey: '$context.routeKey',
  path: '$context.path',
  status: '$context.status',
  latency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  responseLength: '$context.responseLength',
  error: '$context.error.message',
  integrationError: '$context.integrationErrorMessage',
};

/** The roles whose grants include `role`'s routes: apply ⊇ propose ⊇ read. */
export function rolesGranting(role: ApiRole): ApiRole[] {
  return API_ROLES.slice(API_ROLES.indexOf(role));
}

/** The routes a caller with `role` may call (open routes excluded: they need no grant). */
export function routesOfRole(role: ApiRole): ApiRoute[] {
  return API_ROUTES.filter((r) => r.role !== null && rolesGranting(r.role).includes(role));
}

/** `/changes/{id}/apply` → `/changes/* /apply` (without the space): a path template as an execute-api resource. */
export function executeApiPath(path: string): string {
  return path.replace(/\{[^}/]+\}/g, '*');
}

export interface KarmaApiProps {
  readonly network: { readonly vpc: ec2.IVpc; readonly subnets: ec2.SubnetSelection; readonly clientSecurityGroup: ec2.ISecurityGroup };
  readonly graph: NeptuneCluster;
  /** The pipeline's state machine: `changes` starts it (apply), `ops` reads its executions. */
  readonly stateMachine: sfn.IStateMachine;
  /** The stack's customer managed key: the audit table is encrypted with it. */
  readonly key: kms.IKey;
  /**
   * What a function needs to load the config, read the runtime store and open the graph (the pipeline build
   * step's wiring: configGraphEnvironment in pipeline.ts).
   */
  readonly configEnvironment: Readonly<Record<string, string>>;
  /** The runtime store read grant (SSM under the prefix and the readable paths), shared with the pipeline. */
  readonly runtimeRead: iam.PolicyStatement;
  /** The tracked branch: `changes` merges applied proposals into it. */
  readonly branch: string;
  /** A CodeCommit config repo's ARN. @default - GitHub */
  readonly codeCommitRepositoryArn?: string;
  /**
   * Secrets Manager secret (name) with the GitHub token. `changes` pushes with it, so it must allow pushing
   * `karma/proposals/*` and the tracked branch. @default - CodeCommit, or a public GitHub repo (proposals cannot be pushed)
   */
  readonly gitHubTokenSecretName?: string;
  /** @default 'iam' */
  readonly auth?: ApiAuth;
  /** @default DEFAULT_API_THROTTLE */
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

/** Per group: what the function is given (memory, timeout, in the VPC, its routes). */
const GROUP_SHAPE: Readonly<Record<ApiGroup, { memorySize: number; timeout: Duration; vpc: boolean; what: string }>> = {
  meta: { memorySize: 256, timeout: Duration.seconds(10), vpc: false, what: 'health and the OpenAPI document' },
  // API Gateway answers 503 after 30 s whatever the function does; a function that ran on would only burn time.
  read: { memorySize: 1024, timeout: Duration.seconds(29), vpc: true, what: 'graph, plan, impact, component queries (Neptune; ?refresh=true rebuilds from Git + SSM)' },
  changes: { memorySize: 1024, timeout: Duration.seconds(29), vpc: true, what: 'propose, list and apply changes (Git push, Step Functions, audit log)' },
  ops: { memorySize: 512, timeout: Duration.seconds(15), vpc: false, what: 'pipeline executions and the audit log' },
};

export class KarmaApi extends Construct {
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  /** The API's base URL (https://ID.execute-api.REGION.amazonaws.com/). */
  readonly url: string;
  readonly functions: Readonly<Record<ApiGroup, NodejsFunction>>;
  /** Each API_ROUTES entry with the API Gateway route made for it. */
  readonly routes: readonly { readonly route: ApiRoute; readonly httpRoute: apigw.HttpRoute }[];
  readonly auditTable: dynamodb.Table;
  readonly accessLogs: logs.LogGroup;
  /** One managed policy per role, granting execute-api:Invoke on that role's routes. */
  readonly rolePolicies: Readonly<Record<ApiRole, iam.ManagedPolicy>>;

  constructor(scope: Construct, id: string, props: KarmaApiProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const auth: ApiAuth = props.auth ?? 'iam';
    const throttle = props.throttle ?? DEFAULT_API_THROTTLE;

    // --- audit table: append-only entries (who, when, what, diff, result), one partition per log
    this.auditTable = durableTable(this, 'AuditTable', AUDIT_TABLE_KEYS, props.key);
    this.auditTable.addGlobalSecondaryIndex({
      indexName: AUDIT_BY_CHANGE_INDEX.name,
      partitionKey: { name: AUDIT_BY_CHANGE_INDEX.partition, type: dynamodb.AttributeType.STRING },
      sortKey: { name: AUDIT_BY_CHANGE_INDEX.sort, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    const tableResources = [this.auditTable.tableArn, `${this.auditTable.tableArn}/index/${AUDIT_BY_CHANGE_INDEX.name}`];
    const auditRead = [
      new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:Query'], resources: tableResources }),
      new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:DescribeKey'], resources: [props.key.keyArn] }),
    ];
    const auditWrite = [
      new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [this.auditTable.tableArn] }),
      new iam.PolicyStatement({ actions: ['kms:Encrypt', 'kms:GenerateDataKey'], resources: [props.key.keyArn] }),
    ];

    // --- what the changes function reaches from the VPC: Step Functions and DynamoDB (an isolated VPC has no NAT)
    props.network.vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets: [props.network.subnets] });
    props.network.vpc.addInterfaceEndpoint('StepFunctions', { service: ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS, subnets: props.network.subnets, privateDnsEnabled: true });

    // --- the functions, one per group
    const authEnv: Record<string, string> =
      auth === 'iam' ? { KARMA_API_AUTH: 'iam' } : { KARMA_API_AUTH: 'jwt', KARMA_API_ROLES_CLAIM: auth.jwt.rolesClaim ?? DEFAULT_ROLES_CLAIM };
    const groupEnv: Record<ApiGroup, Record<string, string>> = {
      meta: {},
      read: { ...props.configEnvironment, KARMA_CONFIG_BRANCH: props.branch },
      changes: {
        ...props.configEnvironment,
        KARMA_CONFIG_BRANCH: props.branch,
        KARMA_AUDIT_TABLE: this.auditTable.tableName,
        KARMA_STATE_MACHINE_ARN: props.stateMachine.stateMachineArn,
      },
      ops: { KARMA_AUDIT_TABLE: this.auditTable.tableName, KARMA_STATE_MACHINE_ARN: props.stateMachine.stateMachineArn },
    };
    const functions = {} as Record<ApiGroup, NodejsFunction>;
    for (const group of API_GROUPS) {
      const shape = GROUP_SHAPE[group];
      const paths = API_ROUTES.filter((r) => r.group === group).map((r) => `${r.method} ${r.path}`);
      functions[group] = karmaFunction(this, `${group[0]!.toUpperCase()}${group.slice(1)}Function`, {
        entry: join(REPO_ROOT, API_FUNCTION_ENTRIES[group]),
        description: `Karma API ${group}: ${shape.what}; ${paths.join(', ')}`.slice(0, 256),
        timeout: shape.timeout,
        memorySize: shape.memorySize,
        environment: { ...groupEnv[group], ...authEnv },
        ...(shape.vpc ? { vpc: props.network.vpc, vpcSubnets: props.network.subnets, securityGroups: [props.network.clientSecurityGroup] } : {}),
      });
    }
    this.functions = functions;

    // read: the build step's reads (config repo, runtime store) and the graph; ?refresh=true writes it back
    const gitToken = props.gitHubTokenSecretName ? secretsmanager.Secret.fromSecretNameV2(this, 'GitHubToken', props.gitHubTokenSecretName) : undefined;
    for (const group of ['read', 'changes'] as const) {
      const fn = functions[group];
      fn.addToRolePolicy(props.runtimeRead);
      if (props.codeCommitRepositoryArn) fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['codecommit:GitPull'], resources: [props.codeCommitRepositoryArn] }));
      if (gitToken) gitToken.grantRead(fn);
    }
    props.graph.grantReadWrite(functions.read);
    // changes: reads the graph (impact), never writes it; the pipeline it starts does
    iam.Grant.addToPrincipal({ grantee: functions.changes, actions: ['neptune-db:connect', 'neptune-db:ReadDataViaQuery'], resourceArns: [props.graph.dataArn] });
    if (props.codeCommitRepositoryArn) {
      functions.changes.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['codecommit:GitPush'],
          resources: [props.codeCommitRepositoryArn],
          // Every ref a push names must be a proposal branch or the tracked branch (apply merges into it).
          conditions: { 'ForAllValues:StringLike': { 'codecommit:References': ['refs/heads/karma/proposals/*', `refs/heads/${props.branch}`] } },
        }),
      );
    } else if (!gitToken) {
      Annotations.of(this).addWarningV2(
        'karma:api-github-no-token',
        'configRepo.github has no tokenSecretName: POST /request-change and POST /changes/{id}/apply cannot push to GitHub; set it to a secret holding a token that may push karma/proposals/* and the tracked branch',
      );
    }
    props.stateMachine.grantStartExecution(functions.changes);
    // A change's status follows its execution; an apply asked twice finds the execution already there.
    props.stateMachine.grantExecution(functions.changes, 'states:DescribeExecution');
    for (const s of [...auditRead, ...auditWrite]) functions.changes.addToRolePolicy(s);
    // ops: executions of the state machine (progress and results) and the audit log, read only
    props.stateMachine.grantExecution(functions.ops, 'states:DescribeExecution', 'states:GetExecutionHistory');
    for (const s of auditRead) functions.ops.addToRolePolicy(s);

    // --- the HTTP API
    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      apiName: `${stack.stackName}-api`,
      description: 'Karma HTTP API (docs/deploy.md "The HTTP API")',
      createDefaultStage: false,
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.RETAIN });
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: throttle.rateLimit, burstLimit: throttle.burstLimit },
      accessLogSettings: { destination: new apigw.LogGroupLogDestination(this.accessLogs), format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)) },
    });
    this.url = this.stage.url;

    const authorizer: apigw.IHttpRouteAuthorizer =
      auth === 'iam'
        ? new HttpIamAuthorizer()
        : new HttpJwtAuthorizer('JwtAuthorizer', auth.jwt.issuer, { jwtAudience: [...auth.jwt.audience], identitySource: ['$request.header.Authorization'] });
    const integrations = Object.fromEntries(API_GROUPS.map((g) => [g, new HttpLambdaIntegration(`${g}Integration`, functions[g])])) as Record<ApiGroup, HttpLambdaIntegration>;
    this.routes = API_ROUTES.map((route) => {
      const [httpRoute] = this.httpApi.addRoutes({
        path: route.path,
        methods: [route.method === 'GET' ? apigw.HttpMethod.GET : apigw.HttpMethod.POST],
        integration: integrations[route.group],
        authorizer: route.role === null ? new apigw.HttpNoneAuthorizer() : authorizer,
      });
      return { route, httpRoute: httpRoute! };
    });

    // --- one managed policy per role: execute-api:Invoke on exactly its routes, in the API's one stage
    const rolePolicies = {} as Record<ApiRole, iam.ManagedPolicy>;
    for (const role of API_ROLES) {
      rolePolicies[role] = new iam.ManagedPolicy(this, `${role[0]!.toUpperCase()}${role.slice(1)}Policy`, {
        description: `Karma API role ${role}: execute-api:Invoke on its ${routesOfRole(role).length} routes (docs/deploy.md)`,
        statements: [
          new iam.PolicyStatement({
            actions: ['execute-api:Invoke'],
            resources: routesOfRole(role).map((r) => this.httpApi.arnForExecuteApi(r.method, executeApiPath(r.path), '*')),
          }),
        ],
      });
    }
    this.rolePolicies = rolePolicies;
  }
}
