/**
 * GitHub webhook relay behind a Lambda function URL (auth NONE: GitHub signs every delivery). Thin: the
 * checks are in lib/app/webhook.ts.
 *
 * Environment: KARMA_WEBHOOK_SECRET_ARN (Secrets Manager secret, a plain string), KARMA_EVENT_BUS (bus name),
 * KARMA_GITHUB_REPOSITORY (owner/repo), KARMA_DELIVERY_BUCKET (relayed deliveries, `deliveries/<sha256>`, expired
 * by the bucket's lifecycle).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { handleWebhook, type WebhookRequest, type WebhookResponse } from '../lib/app/webhook.ts';

const logger = new Logger({ serviceName: 'karma-webhook' });
const secrets = new SecretsManagerClient({});
const events = new EventBridgeClient({});
const s3 = new S3Client({});
const DELIVERY_PREFIX = 'deliveries/';
const SECRET_TTL_MS = 5 * 60_000;
let cached: { value: string; at: number } | undefined;

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the CDK stack sets it)`);
  return value;
}

async function getSecret(): Promise<string> {
  if (cached && Date.now() - cached.at < SECRET_TTL_MS) return cached.value;
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: env('KARMA_WEBHOOK_SECRET_ARN') }));
  cached = { value: out.SecretString ?? '', at: Date.now() };
  return cached.value;
}

async function putEvent(entry: { source: string; detailType: string; detail: string }): Promise<void> {
  const out = await events.send(
    new PutEventsCommand({ Entries: [{ EventBusName: env('KARMA_EVENT_BUS'), Source: entry.source, DetailType: entry.detailType, Detail: entry.detail }] }),
  );
  if (out.FailedEntryCount) throw new Error(`PutEvents refused the event: ${out.Entries?.[0]?.ErrorCode ?? ''} ${out.Entries?.[0]?.ErrorMessage ?? ''}`);
}

/** Creates deliveries/<key> only if absent (S3 conditional write): false when a first relay already made it. */
async function claimDelivery(key: string, delivery: string | undefined): Promise<boolean> {
  try {
    await s3.send(new PutObjectCommand({ Bucket: env('KARMA_DELIVERY_BUCKET'), Key: DELIVERY_PREFIX + key, Body: JSON.stringify({ delivery: delivery ?? null, at: new Date().toISOString() }), IfNoneMatch: '*' }));
    return true;
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    // 412: the object exists; 409: a concurrent claim of the same key is in flight (it wins).
    if (e.$metadata?.httpStatusCode === 412 || e.$metadata?.httpStatusCode === 409 || e.name === 'PreconditionFailed') return false;
    throw error;
  }
}

async function releaseDelivery(key: string): Promise<void> {
  await s3.send(new DeleteObjectCommand({ Bucket: env('KARMA_DELIVERY_BUCKET'), Key: DELIVERY_PREFIX + key }));
}

export const handler = async (event: WebhookRequest): Promise<WebhookResponse> => {
  try {
    return await handleWebhook(event, { getSecret, putEvent, claimDelivery, releaseDelivery, repository: env('KARMA_GITHUB_REPOSITORY'), log: (m, f) => logger.info(m, { ...f }) });
  } catch (error) {
    logger.error('webhook failed', { error: (error as Error).message });
    return { statusCode: 502, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'relay failed' }) };
  }
};
