/**
 * cdk-nag AwsSolutions findings that remain by design. Each is acknowledged on the construct it arises on,
 * with the finding's exact id where the rule reports one per permission, and a reason. Anything new fails
 * the synth (test/infra/nag.test.ts and `npx cdk synth`).
 */
import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { KarmaStack } from './karma-stack.ts';
import { GRAPH_WRITERS, PROVIDER_CACHE_PREFIX } from './pipeline.ts';
import { API_ROLES } from '../core/pipeline-contract.ts';
import { executeApiPath, routesOfRole } from './api.ts';

export interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

function logicalId(c: IConstruct): string {
  return Stack.of(c).getLogicalId(CfnElement.isCfnElement(c) ? c : (c.node.defaultChild as CfnElement));
}

/** Records the acknowledgements and returns them (docs and tests list them). */
export function acknowledgeFindings(stack: KarmaStack): Acknowledgement[] {
  const done: Acknowledgement[] = [];
  const ack = (scope: IConstruct, id: string, reason: string) => {
    Validations.of(scope).acknowledge({ id, reason });
    done.push({ path: scope.node.path, id, reason });
  };
  const { pipeline, network, graph, triggers } = stack;
  const region = stack.region;
  const account = stack.account;
  const ssm = (path: string) => `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:${region}:${account}:parameter${path}]`;
  const prefix = stack.settings.parameterPrefix;

  // Lambda execution roles (steps and webhook)
  const lambdas = [...Object.entries(pipeline.functions), ...(triggers.webhook ? [['webhook', triggers.webhook] as const] : [])];
  for (const [name, fn] of lambdas) {
    ack(fn, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'AWS managed basic execution policy: CreateLogStream/PutLogEvents on the function\'s own log group, which CDK creates with a retention');
    if (name !== 'webhook') {
      ack(fn, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        'AWS managed VPC access policy: the ENI actions Lambda needs to run in the private subnets; ec2 ENI actions have no resource-level scoping');
    }
    ack(fn, 'AwsSolutions-IAM5[Resource::*]', 'X-Ray active tracing: xray:PutTraceSegments/PutTelemetryRecords do not support resource-level permissions');
    if (name === 'acquireLock' || name === 'releaseLock') {
      ack(fn, ssm(`${prefix}-locks/*`), 'environment locks: one parameter per environment under <prefix>-locks/, named at run time');
    }
    if (GRAPH_WRITERS.has(name as never)) {
      ack(fn, ssm(`${prefix}/*`), 'runtime store reads: every component output and state lives under the configured prefix; names come from the config repo');
      for (const p of stack.settings.readableParameterPaths) ack(fn, ssm(`${p.replace(/\/$/, '')}/*`), 'parameters the config repo references with ${ssm:...}, listed in settings.readableParameterPaths');
      ack(fn, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:neptune-db:${region}:${account}:<${logicalId(graph.cluster)}.ClusterResourceId>/*]`,
        'neptune-db actions are scoped to this cluster\'s resource id; the trailing /* is the only form Neptune IAM auth accepts for data access');
      ack(fn, `AwsSolutions-IAM5[Resource::<${logicalId(pipeline.snapshotBucket)}.Arn>/snapshots/*]`, 'build snapshots: one object per execution under snapshots/, keys named at run time');
    }
  }

  ack(pipeline.functions.plan, ssm(`${prefix}/*/state`), 'PlanWave records a component whose build died without a result as failed: only state parameters (<prefix>/<env>/<component>/state), named at run time');
  ack(pipeline.functions.summarize, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', 'publishing drift notifications to the topic encrypted with Karma\'s own key (the only key in the grant)');

  // State machine role
  const sm = pipeline.stateMachine;
  ack(sm, 'AwsSolutions-IAM5[Resource::*]', 'X-Ray tracing and CloudWatch Logs vended delivery (logs:CreateLogDelivery...) do not support resource-level permissions');
  for (const fn of Object.values(pipeline.functions)) {
    ack(sm, `AwsSolutions-IAM5[Resource::<${logicalId(fn)}.Arn>:*]`, 'lambda:InvokeFunction on the step function and its versions/aliases (function ARN + :*), granted by grantInvoke');
  }

  // CodeBuild projects and roles, one per environment
  for (const [env, project] of Object.entries(pipeline.projects)) {
    const role = pipeline.applyRoles[env]!;
    const p = logicalId(project);
    ack(role, ssm(`${prefix}/*`), `karma component reads component outputs under the configured prefix (a config may read another environment's outputs with \${env:...}); it writes only ${prefix}/${env}/*`);
    ack(role, ssm(`${prefix}/${env}/*`), `karma component writes ${env}'s component outputs and state under ${prefix}/${env}/; component names come from the config repo`);
    for (const path of stack.settings.readableParameterPaths) ack(role, ssm(`${path.replace(/\/$/, '')}/*`), 'parameters the config repo references with ${ssm:...}');
    ack(role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:${region}:${account}:log-group:/aws/codebuild/<${p}>:*]`, 'CodeBuild default log permissions on the project\'s own log group streams');
    ack(role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codebuild:${region}:${account}:report-group/<${p}>-*]`, 'CodeBuild default report-group permissions, scoped to the project name prefix');
    for (const action of ['s3:GetBucket*', 's3:GetObject*', 's3:List*']) {
      ack(role, `AwsSolutions-IAM5[Action::${action}]`, 'read-only access to the CDK asset holding the Karma source the build runs (Source.s3 grantRead)');
    }
    ack(role, `AwsSolutions-IAM5[Resource::<${logicalId(pipeline.providerCacheBucket)}.Arn>/${PROVIDER_CACHE_PREFIX}/${env}/*]`, `CodeBuild S3 cache of ${env}'s provider plugin directory: its own prefix of the dedicated cache bucket, archive names chosen by CodeBuild`);
    for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
      ack(role, `AwsSolutions-IAM5[Action::${action}]`, 'build artifacts and logs encrypted with Karma\'s own customer managed key (the only key in the grant)');
    }
  }

  // Network: interface endpoint security groups allow 443 from the VPC CIDR (an intrinsic cdk-nag cannot read)
  for (const child of network.vpc.node.children) {
    const sg = child.node.tryFindChild('SecurityGroup');
    if (sg) ack(sg, 'AwsSolutions-EC23', 'VPC endpoint security group: ingress 443 from the VPC CIDR only (Fn::GetAtt VPC.CidrBlock), never 0.0.0.0/0');
  }

  // Triggers
  ack(triggers.deadLetterQueue, 'AwsSolutions-SQS3', 'this queue IS the dead-letter queue of every EventBridge target (targets set deadLetterQueue, which SQS3 does not see)');
  ack(triggers.failureNotifyRole, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
    'EventBridge publishes failed executions to the topic encrypted with Karma\'s own key (grantPublish: the only key in the grant)');
  if (triggers.deliveryBucket && triggers.webhook) {
    ack(triggers.webhook, `AwsSolutions-IAM5[Resource::<${logicalId(triggers.deliveryBucket)}.Arn>/deliveries/*]`,
      'webhook replay check: one object per relayed delivery, named by the SHA-256 of its body at run time (conditional create, delete after a failed relay)');
  }
  if (triggers.webhookSecret) {
    ack(triggers.webhookSecret, 'AwsSolutions-SMG4', 'the GitHub webhook secret is shared with GitHub: rotating it means updating the repository webhook too, which no rotation Lambda can do; rotate both by hand (docs/deploy.md)');
  }

  // The HTTP API (settings.api.enabled)
  const api = stack.api;
  if (api) {
    for (const [group, fn] of Object.entries(api.functions)) {
      ack(fn, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        'AWS managed basic execution policy: CreateLogStream/PutLogEvents on the function\'s own log group, which CDK creates with a retention');
      ack(fn, 'AwsSolutions-IAM5[Resource::*]', 'X-Ray active tracing: xray:PutTraceSegments/PutTelemetryRecords do not support resource-level permissions');
      if (group === 'read' || group === 'changes') {
        ack(fn, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
          'AWS managed VPC access policy: the ENI actions Lambda needs to run in the private subnets (Neptune); ec2 ENI actions have no resource-level scoping');
        ack(fn, ssm(`${prefix}/*`), 'runtime store reads (the API\'s graph, plan, impact and proposals): every component output and state lives under the configured prefix; names come from the config repo');
        for (const p of stack.settings.readableParameterPaths) ack(fn, ssm(`${p.replace(/\/$/, '')}/*`), 'parameters the config repo references with ${ssm:...}, listed in settings.readableParameterPaths');
        ack(fn, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:neptune-db:${region}:${account}:<${logicalId(graph.cluster)}.ClusterResourceId>/*]`,
          'neptune-db actions are scoped to this cluster\'s resource id; the trailing /* is the only form Neptune IAM auth accepts for data access');
      }
    }
    const smName = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${logicalId(pipeline.stateMachine)}"}]}]}`;
    ack(api.functions.ops, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:${smName}:*]`,
      'GET /executions/{id}: DescribeExecution and GetExecutionHistory on the executions of Karma\'s state machine only; execution names are made at run time');
    ack(api.functions.changes, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:${smName}:*]`,
      'GET /changes/{id} follows the execution an apply started: DescribeExecution on the executions of Karma\'s state machine only; execution names are made at run time');
    for (const { route, httpRoute } of api.routes.filter((r) => r.route.role === null)) {
      ack(httpRoute, 'AwsSolutions-APIG4', `${route.method} ${route.path} is open by design (issue 12): health checks and the OpenAPI document carry no data; every other route has IAM or JWT auth`);
    }
    for (const role of API_ROLES) {
      for (const route of routesOfRole(role)) {
        ack(api.rolePolicies[role], `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:${region}:${account}:<${logicalId(api.httpApi)}>/*/${route.method}${executeApiPath(route.path)}]`,
          `execute-api:Invoke on ${route.method} ${route.path} only: the stage is * (the API has one stage, $default, as in HttpRoute.grantInvoke) and each {path parameter} is *`);
      }
    }
  }

  // The long-running service (settings.service.enabled)
  const service = stack.service;
  if (service) {
    ack(service.loadBalancerSecurityGroup, 'AwsSolutions-EC23',
      'service ALB security group: ingress on the listener port from the VPC CIDR only (Fn::GetAtt VPC.CidrBlock, an intrinsic cdk-nag cannot read), never 0.0.0.0/0; the ALB is internal');
    ack(service.taskDefinition, 'AwsSolutions-ECS2',
      'the task\'s environment holds names and addresses only (table, queue, topic, state machine, Neptune endpoint, config repo URL, directories); the one secret, KARMA_API_TOKEN, is injected from Secrets Manager');
    ack(service.adminToken, 'AwsSolutions-SMG4',
      'the admin bearer token is held by its callers too: rotating it means handing the new value to every caller and restarting the task, which no rotation Lambda can do; rotate by hand (docs/deploy-service.md "Tokens")');
    const taskRole = service.taskDefinition.taskRole;
    ack(taskRole, ssm(`${prefix}/*`), 'runtime store reads (the live graph): every component output and state lives under the configured prefix; names come from the config repo');
    for (const p of stack.settings.readableParameterPaths) ack(taskRole, ssm(`${p.replace(/\/$/, '')}/*`), 'parameters the config repo references with ${ssm:...}, listed in settings.readableParameterPaths');
    ack(taskRole, ssm(`${prefix}/*/state`), 'a component whose apply died without recording a result is recorded failed, as PlanWave does: only state parameters (<prefix>/<env>/<component>/state), named at run time');
    ack(taskRole, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:neptune-db:${region}:${account}:<${logicalId(graph.cluster)}.ClusterResourceId>/*]`,
      'the live graph syncs to Neptune: neptune-db actions are scoped to this cluster\'s resource id; the trailing /* is the only form Neptune IAM auth accepts for data access');
    const smName = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${logicalId(pipeline.stateMachine)}"}]}]}`;
    ack(taskRole, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:${account}:execution:${smName}:*]`,
      'a queued apply follows the execution it started: DescribeExecution on the executions of Karma\'s state machine only; execution names are made at run time');
    ack(taskRole, 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', 'publishing notifications to the topic encrypted with Karma\'s own key (grantPublish: the only key in the grant)');
    ack(service.taskDefinition.obtainExecutionRole(), 'AwsSolutions-IAM5[Resource::*]',
      'ECS task execution role: ecr:GetAuthorizationToken does not support resource-level permissions (the image pull itself is scoped to the asset repository)');
  }
  return done;
}
