/**
 * KarmaNetwork: the VPC Karma's Lambdas and Neptune live in.
 *
 * Without NAT (the default with a CodeCommit config repo) the subnets are PRIVATE_ISOLATED and everything the
 * Lambdas call is reached through VPC endpoints ({@link vpcEndpointServices}): SSM (runtime store, locks), SNS
 * (Summarize's drift notifications), CodeCommit Git (the config repo) and S3 (gateway: snapshots). Nothing else:
 * the bundles call no STS (credentials come from the Lambda environment), no Step Functions and no CloudWatch
 * Logs API (the Lambda service ships logs), and X-Ray active tracing is recorded by the Lambda service itself
 * (the code sends no segments). Secrets Manager (a private GitHub token) is only used with GitHub, which needs
 * NAT anyway. With `natGateways >= 1` (required for a GitHub config repo) the subnets are PRIVATE_WITH_EGRESS
 * behind NAT gateways in public subnets; the endpoints stay (private traffic, no NAT data charge).
 * The HTTP API (api.ts) adds the two its `changes` function needs: DynamoDB (gateway) and Step Functions.
 * Availability zones are named from the region (`<region>a`, `<region>b`) so synth never looks them up.
 */
import { Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

export interface KarmaNetworkProps {
  /** NAT gateways (0: isolated subnets, endpoints only). */
  readonly natGateways: number;
  /** Add the CodeCommit Git endpoint (the config repo is on CodeCommit). */
  readonly codeCommit: boolean;
  /** @default - `<region>a`, `<region>b` */
  readonly availabilityZones?: string[];
}

/** The interface endpoints the Lambdas need, by construct id: what the bundles call from inside the VPC. */
export function vpcEndpointServices(props: Pick<KarmaNetworkProps, 'codeCommit'>): Record<string, ec2.InterfaceVpcEndpointAwsService> {
  return {
    Ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
    Sns: ec2.InterfaceVpcEndpointAwsService.SNS,
    ...(props.codeCommit ? { CodeCommitGit: ec2.InterfaceVpcEndpointAwsService.CODECOMMIT_GIT } : {}),
  };
}

export class KarmaNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  readonly subnets: ec2.SubnetSelection;
  /** Karma's Lambdas: the only clients Neptune accepts. */
  readonly clientSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: KarmaNetworkProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    const subnetType = props.natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED;
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.80.0.0/16'),
      availabilityZones: props.availabilityZones ?? [`${region}a`, `${region}b`],
      natGateways: props.natGateways,
      // No instance ever uses the default security group; restricting it needs a custom-resource Lambda.
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [
        ...(props.natGateways > 0 ? [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }] : []),
        { name: 'private', subnetType, cidrMask: 20 },
      ],
      flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.ALL, destination: ec2.FlowLogDestination.toCloudWatchLogs() } },
    });
    this.subnets = { subnetType };

    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [this.subnets] });
    for (const [name, service] of Object.entries(vpcEndpointServices(props))) {
      this.vpc.addInterfaceEndpoint(name, { service, subnets: this.subnets, privateDnsEnabled: true });
    }

    this.clientSecurityGroup = new ec2.SecurityGroup(this, 'ClientSg', {
      vpc: this.vpc,
      description: 'Karma Lambdas (Neptune clients); outbound to endpoints and Neptune',
      allowAllOutbound: true,
    });
  }
}
