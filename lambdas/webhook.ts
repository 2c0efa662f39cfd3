/**
 * GitHub webhook relay behind a Lambda function URL (auth NONE: GitHub signs every delivery). Thin: the
 * checks are in lib/app/webhook.ts.
 *
 * Environment: KARMA_WEBHOOK_SECRET_ARN (Secrets Manager secret, a plain string), KARMA_EVENT_BUS (bus name),
 * KARMA_GITHUB_REPOSITORY (owner/repo).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { handleWebhook, type WebhookRequest, type WebhookResponse } from '../lib/app/webhook.ts';

const logger = new Logger({ serviceName: 'karma-webhook' });
const secrets = new SecretsManagerClient({});
const events = new EventBridgeClient({});
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

export const handler = async (event: WebhookRequest): Promise<WebhookResponse> => {
  try {
    return await handleWebhook(event, { getSecret, putEvent, repository: env('KARMA_GITHUB_REPOSITORY'), log: (m, f) => logger.info(m, { ...f }) });
  } catch (error) {
    logger.error('webhook failed', { error: (error as Error).message });
    return { statusCode: 502, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'relay failed' }) };
  }
};
