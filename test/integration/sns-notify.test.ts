/**
 * SnsNotifier against a real moto server: an SQS queue subscribed to the topic receives what Summarize
 * publishes, subject and table intact. Also the adapter as contextFromEnv wires it (KARMA_NOTIFY_TOPIC_ARN).
 */
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotifyError } from '../../lib/adapters/errors.ts';
import { SnsNotifier } from '../../lib/adapters/notify/sns.ts';
import { contextFromEnv } from '../../lib/app/pipeline/context.ts';
import { credentialsEnv, motoClientConfig, standInEnv, withEnv } from '../support/stand-ins.ts';

describe('SnsNotifier on moto', () => {
  let sns: SNSClient;
  let sqs: SQSClient;
  let topicArn: string;
  let queueUrl: string;

  beforeAll(async () => {
    // Prepare: a topic with an SQS queue subscribed to it, as an email subscription would be.
    sns = new SNSClient(motoClientConfig());
    sqs = new SQSClient(motoClientConfig());
    const id = randomUUID().slice(0, 8);
    topicArn = (await sns.send(new CreateTopicCommand({ Name: `karma-notify-${id}` }))).TopicArn!;
    queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `karma-notify-${id}` }))).QueueUrl!;
    const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!['QueueArn']!;
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: queueArn }));
  });
  afterAll(() => {
    sns.destroy();
    sqs.destroy();
  });

  async function receive(): Promise<{ Subject?: string; Message: string; TopicArn: string }[]> {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }));
    return (out.Messages ?? []).map((m) => JSON.parse(m.Body!) as { Subject?: string; Message: string; TopicArn: string });
  }

  it('publishes one message: the subscribed queue receives the subject and the table text', async () => {
    // Prepare
    const notifier = new SnsNotifier({ topicArn, client: sns });
    const text = 'Karma drift check (execution e1): 2 drifted.\n\nENV        COMPONENT  RESULT   DETAIL\nkarma-prod network    drifted  Plan: 0 to add, 1 to change, 0 to destroy.\n';

    // Act
    const id = await notifier.publish('Karma: 2 drifted in karma-prod', text);
    const got = await receive();

    // Assess
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ MessageId: id, TopicArn: topicArn, Subject: 'Karma: 2 drifted in karma-prod', Message: text });
  });

  it('contextFromEnv publishes to KARMA_NOTIFY_TOPIC_ARN', async () => {
    // The credentials come from the process environment (the SDK's chain), the rest from the Lambda's.
    await withEnv(credentialsEnv(), async () => {
      const ctx = contextFromEnv(standInEnv({ KARMA_CONFIG: '/nonexistent-config', KARMA_NOTIFY_TOPIC_ARN: topicArn }), () => undefined);

      await ctx.notify!('Karma: 1 drifted in karma-dev', 'table');
      const got = await receive();

      expect(got.map((m) => [m.Subject, m.Message])).toEqual([['Karma: 1 drifted in karma-dev', 'table']]);
      expect(contextFromEnv({ KARMA_CONFIG: '/nonexistent-config' }, () => undefined).notify).toBeUndefined();
    });
  });

  it('a topic that does not exist is one NotifyError naming the topic', async () => {
    const missing = topicArn.replace(/karma-notify-/, 'karma-missing-');

    const error = (await new SnsNotifier({ topicArn: missing, client: sns }).publish('s', 't').catch((e: unknown) => e)) as Error;

    expect(error).toBeInstanceOf(NotifyError);
    expect(error.message).toMatch(new RegExp(`^SNS Publish to ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} failed: NotFound`));
    expect(error.message).not.toContain('\n');
  });
});
