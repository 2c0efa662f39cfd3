/**
 * NeptuneCluster: the Neptune cluster the graph is written to.
 *
 * L1 constructs (CfnDBCluster, CfnDBInstance, CfnDBSubnetGroup) rather than @aws-cdk/aws-neptune-alpha: the
 * alpha package is versioned apart from aws-cdk-lib (the registry's latest alpha trails aws-cdk-lib 2.276),
 * its API may change in any release, and everything Karma needs is a plain property here: serverless v2
 * capacity (ServerlessScalingConfiguration + db.serverless instances), IAM auth, encryption, the cluster
 * resource id for neptune-db grants. `grantConnect` below is the only helper the L2 would have given us.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as neptune from 'aws-cdk-lib/aws-neptune';
import { Construct } from 'constructs';

export interface NeptuneClusterProps {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** The only security group allowed to reach port 8182. */
  readonly clientSecurityGroup: ec2.ISecurityGroup;
  /** Serverless v2 capacity in Neptune capacity units. */
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** @default 1 */
  readonly instances?: number;
  readonly engineVersion: string;
  /** @default 7 */
  readonly backupRetentionDays?: number;
}

export const NEPTUNE_PORT = 8182;

export class NeptuneCluster extends Construct {
  readonly cluster: neptune.CfnDBCluster;
  readonly instances: neptune.CfnDBInstance[] = [];
  readonly securityGroup: ec2.SecurityGroup;
  /** wss://<cluster endpoint>:8182/gremlin (KARMA_NEPTUNE_ENDPOINT). */
  readonly gremlinUrl: string;

  constructor(scope: Construct, id: string, props: NeptuneClusterProps) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'Sg', {
      vpc: props.vpc,
      description: `Karma Neptune: port ${NEPTUNE_PORT} from the Karma Lambdas only`,
      allowAllOutbound: false,
    });
    this.securityGroup.addIngressRule(props.clientSecurityGroup, ec2.Port.tcp(NEPTUNE_PORT), 'Gremlin from Karma Lambdas');

    const subnetGroup = new neptune.CfnDBSubnetGroup(this, 'Subnets', {
      dbSubnetGroupDescription: 'Karma graph (private subnets)',
      subnetIds: props.vpc.selectSubnets(props.subnets).subnetIds,
    });
    const parameters = new neptune.CfnDBClusterParameterGroup(this, 'ClusterParameters', {
      family: 'neptune1.4',
      description: 'Karma graph: audit log on',
      parameters: { neptune_enable_audit_log: 1 },
    });

    this.cluster = new neptune.CfnDBCluster(this, 'Cluster', {
      engineVersion: props.engineVersion,
      iamAuthEnabled: true,
      storageEncrypted: true,
      deletionProtection: true,
      copyTagsToSnapshot: true,
      backupRetentionPeriod: props.backupRetentionDays ?? 7,
      dbSubnetGroupName: subnetGroup.ref,
      dbClusterParameterGroupName: parameters.ref,
      vpcSecurityGroupIds: [this.securityGroup.securityGroupId],
      serverlessScalingConfiguration: { minCapacity: props.minCapacity, maxCapacity: props.maxCapacity },
      enableCloudwatchLogsExports: ['audit'],
    });
    this.cluster.applyRemovalPolicy(RemovalPolicy.SNAPSHOT);

    const count = props.instances ?? 1;
    for (let i = 0; i < count; i++) {
      const instance = new neptune.CfnDBInstance(this, `Instance${i + 1}`, {
        dbClusterIdentifier: this.cluster.ref,
        dbInstanceClass: 'db.serverless',
        autoMinorVersionUpgrade: true,
        dbSubnetGroupName: subnetGroup.ref,
      });
      instance.applyRemovalPolicy(RemovalPolicy.DESTROY);
      this.instances.push(instance);
    }
    this.gremlinUrl = `wss://${this.cluster.attrEndpoint}:${NEPTUNE_PORT}/gremlin`;
  }

  /** arn:aws:neptune-db:REGION:ACCOUNT:CLUSTER_RESOURCE_ID/* — the narrowest resource neptune-db accepts. */
  get dataArn(): string {
    const stack = Stack.of(this);
    return `arn:${stack.partition}:neptune-db:${stack.region}:${stack.account}:${this.cluster.attrClusterResourceId}/*`;
  }

  /** Gremlin reads and writes (Karma upserts and deletes what vanished) through IAM auth. */
  grantReadWrite(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['neptune-db:connect', 'neptune-db:ReadDataViaQuery', 'neptune-db:WriteDataViaQuery', 'neptune-db:DeleteDataViaQuery'],
      resourceArns: [this.dataArn],
    });
  }
}
