/**
 * The service's notifications to SNS against a real moto server: a queue subscribed to the topic receives
 * every event published on the bus (subject: the one line, in ASCII; message: the event's JSON), the topic
 * from karma.yaml or from KARMA_NOTIFY_TOPIC_ARN (which wins); a failing Publish is logged, not thrown.
 */
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../lib/app/events.ts';
import type { Config, NotificationsConfig } from '../../lib/core/model.ts';
import { startNotifications, type NotificationLog } from '../../lib/service/notifications.ts';
import { MemoryDeliveryLog } from '../support/memory-deliveries.ts';
import { credentialsEnv, motoClientConfig, motoEndpoint, setEnv } from '../support/stand-ins.ts';

function configWith(notifications: NotificationsConfig): Pick<Config, 'project'> {
  return {
    project: {
      project: 'test',
      parameterPrefix: '/karma',
      environments: new Map(),
      backend: { type: 'local', path: '.karma' },
      terraform: {},
      drift: { onTrigger: 'report' },
      notifications,
    },
  };
}

function memoryLog(): NotificationLog & { lines: { level: string; message: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, ...(fields ? { fields } : {}) });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

describe('service notifications to SNS on moto', () => {
  let sns: SNSClient;
  let sqs: SQSClient;
  let restoreEnv: () => void;

  async function topicWithQueue(): Promise<{ arn: string; queueUrl: string }> {
    const id = randomUUID().slice(0, 8);
    const arn = (await sns.send(new CreateTopicCommand({ Name: `karma-service-${id}` }))).TopicArn!;
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `karma-service-${id}` }))).QueueUrl!;
    const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))).Attributes!['QueueArn']!;
    await sns.send(new SubscribeCommand({ TopicArn: arn, Protocol: 'sqs', Endpoint: queueArn }));
    return { arn, queueUrl };
  }

  /** What the queue receives until `count` messages arrived or `polls` long polls of 1 s came back. */
  async function receive(queueUrl: string, count: number, polls = 5): Promise<{ Subject?: string; Message: string; TopicArn: string }[]> {
    const got: { Subject?: string; Message: string; TopicArn: string }[] = [];
    for (let i = 0; i < polls && got.length < count; i++) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      got.push(...(out.Messages ?? []).map((m) => JSON.parse(m.Body!) as { Subject?: string; Message: string; TopicArn: string }));
    }
    return got;
  }

  beforeAll(() => {
    // The SNS client the service opens takes its credentials from the SDK's chain: the process environment.
    restoreEnv = setEnv(credentialsEnv());
    sns = new SNSClient(motoClientConfig());
    sqs = new SQSClient(motoClientConfig());
  });
  afterAll(() => {
    sns.destroy();
    sqs.destroy();
    restoreEnv();
  });

  it('publishes every event to the karma.yaml topic: subject the line in ASCII, message the event JSON', async () => {
    // Prepare
    const { arn, queueUrl } = await topicWithQueue();
    const bus = new EventBus();
    const log = memoryLog();
    const notifications = startNotifications({ bus, config: configWith({ webhooks: [], sns: { topicArn: arn } }), deliveries: new MemoryDeliveryLog(), env: { ...credentialsEnv(), AWS_ENDPOINT_URL: motoEndpoint() }, log });

    // Act
    const finished = bus.publish({ type: 'change.finished', change: 'p-abc', env: 'karma-dev', component: 'serverless-site', outcome: 'failed', result: 'apply failed: exit 1' });
    const drift = bus.publish({ type: 'drift.found', env: 'karma-prod', component: 'dns', reason: 'Plan: 0 to add, 1 to change, 0 to destroy.' });
    await notifications.stop();
    const got = await receive(queueUrl, 2);

    // Assess
    expect(got.map((m) => m.Subject).sort()).toEqual([
      'karma: change p-abc (serverless-site in karma-dev) failed - apply failed: exit 1',
      'karma: drift found in dns in karma-prod - Plan: 0 to add, 1 to change, 0 to destroy.',
    ]);
    const messages = got.map((m) => JSON.parse(m.Message) as { id: number });
    expect(messages.sort((a, b) => a.id - b.id)).toEqual([finished, drift]);
    expect(got.every((m) => m.TopicArn === arn)).toBe(true);
    expect(notifications.stats().sns).toEqual({ topicArn: arn, published: 2, failed: 0 });
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('KARMA_NOTIFY_TOPIC_ARN wins over karma.yaml; sns.events filters what is published', async () => {
    const fromYaml = await topicWithQueue();
    const fromEnv = await topicWithQueue();
    const bus = new EventBus();
    const notifications = startNotifications({
      bus,
      config: configWith({ webhooks: [], sns: { topicArn: fromYaml.arn, events: ['rollout.finished'] } }),
      deliveries: new MemoryDeliveryLog(),
      env: { ...credentialsEnv(), AWS_ENDPOINT_URL: motoEndpoint(), KARMA_NOTIFY_TOPIC_ARN: fromEnv.arn },
      log: memoryLog(),
    });

    bus.publish({ type: 'change.queued', change: 'p-1', env: 'karma-dev', component: 'site', actor: 'alice', rollout: 'r-1' });
    bus.publish({ type: 'rollout.finished', rollout: 'r-1', component: 'site', status: 'succeeded' });
    await notifications.stop();

    expect((await receive(fromEnv.queueUrl, 2, 2)).map((m) => m.Subject)).toEqual(['karma: rollout r-1 of site succeeded']);
    expect(notifications.stats().sns).toEqual({ topicArn: fromEnv.arn, published: 1, failed: 0 });
    expect(await receive(fromYaml.queueUrl, 1, 2)).toEqual([]);
  });

  it('a topic that does not exist: logged as one error naming it, counted, never thrown to the publisher', async () => {
    const { arn } = await topicWithQueue();
    const missing = arn.replace(/karma-service-/, 'karma-missing-');
    const bus = new EventBus();
    const log = memoryLog();
    const notifications = startNotifications({ bus, config: configWith({ webhooks: [], sns: { topicArn: missing } }), deliveries: new MemoryDeliveryLog(), env: { ...credentialsEnv(), AWS_ENDPOINT_URL: motoEndpoint() }, log });

    bus.publish({ type: 'deployment.orphaned', env: 'karma-dev', component: 'old', reason: 'removed from Git' });
    await notifications.stop();

    expect(notifications.stats().sns).toEqual({ topicArn: missing, published: 0, failed: 1 });
    const errors = log.lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ message: 'SNS publish failed', fields: { topicArn: missing, event: 'deployment.orphaned' } });
    expect(String(errors[0]!.fields!['error'])).toMatch(/SNS Publish to .* failed: NotFound/);
    expect(bus.subscribers).toBe(0);
  });
});
