/**
 * Karma's DynamoDB tables in CDK (the audit table, the service's table): what each keeps must outlive a mistake,
 * so every one is on-demand, with point-in-time recovery, encrypted with Karma's key, deletion-protected and
 * retained when the stack goes.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

export function durableTable(scope: Construct, id: string, keys: { readonly partition: string; readonly sort: string }, key: kms.IKey): dynamodb.Table {
  return new dynamodb.Table(scope, id, {
    partitionKey: { name: keys.partition, type: dynamodb.AttributeType.STRING },
    sortKey: { name: keys.sort, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey: key,
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
}
