/**
 * The trigger patterns against sample events (shapes from the AWS docs: "Parameter Store Change",
 * "CodeCommit Repository State Change" referenceUpdated; a GitHub push as the webhook relays it), matched by
 * EventBridge as moto emulates it: each pattern becomes a rule on its own bus with an SQS queue target, each
 * sample is PutEvents'd, and a message in the queue means the rule matched.
 *
 * Why not TestEventPattern: moto 5.2.x (5.2.1 installed, 5.2.5 pinned) answers TestEventPattern with an
 * empty body (not implemented). Its rule matcher, used here, implements every operator these patterns use:
 * prefix, exists, anything-but with a nested prefix, booleans, OR within a field's list.
 */
import { CreateEventBusCommand, EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMotoServer, type MotoServer } from '../../scripts/servers/servers.ts';
import { codeCommitPushPattern, gitHubPushPattern, ssmChangePattern } from '../../lib/core/pipeline-contract.ts';

let moto: MotoServer;
let events: EventBridgeClient;
let sqs: SQSClient;
let rules = 0;

beforeAll(async () => {
  moto = await startMotoServer();
  const config = { region: 'eu-west-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  events = new EventBridgeClient(config);
  sqs = new SQSClient(config);
}, 120_000);

afterAll(async () => {
  events?.destroy();
  sqs?.destroy();
  await moto?.stop();
});

type Sample = { source: string; 'detail-type': string; resources: string[]; detail: object };

/** A rule with `pattern` on a fresh bus, delivering to a fresh queue; returns "does this event match?". */
async function ruleFor(pattern: object): Promise<(event: object) => Promise<boolean>> {
  const name = `karma-pattern-${++rules}`;
  await events.send(new CreateEventBusCommand({ Name: name }));
  const queue = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  await events.send(new PutRuleCommand({ Name: name, EventBusName: name, EventPattern: JSON.stringify(pattern) }));
  await events.send(new PutTargetsCommand({ Rule: name, EventBusName: name, Targets: [{ Id: 'queue', Arn: `arn:aws:sqs:eu-west-1:123456789012:${name}` }] }));
  return async (raw) => {
    const e = raw as Sample;
    const put = await events.send(
      new PutEventsCommand({ Entries: [{ EventBusName: name, Source: e.source, DetailType: e['detail-type'], Resources: e.resources, Detail: JSON.stringify(e.detail) }] }),
    );
    expect(put.FailedEntryCount ?? 0).toBe(0);
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    const messages = got.Messages ?? [];
    if (messages.length) {
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queue.QueueUrl, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      expect(JSON.parse(messages[0]!.Body!)).toMatchObject({ detail: e.detail });
    }
    return messages.length > 0;
  };
}

const envelope = { version: '0', id: '6a7e4feb-b491-4cf7-a9f1-bf3703497718', account: '123456789012', time: '2017-05-22T16:43:48Z', region: 'eu-west-1' };

function ssmEvent(detail: Record<string, string>): object {
  return {
    ...envelope,
    'detail-type': 'Parameter Store Change',
    source: 'aws.ssm',
    resources: [`arn:aws:ssm:eu-west-1:123456789012:parameter${detail['name']}`],
    detail: { type: 'String', ...detail },
  };
}

function codeCommitEvent(detail: Record<string, string>): object {
  return {
    ...envelope,
    'detail-type': 'CodeCommit Repository State Change',
    source: 'aws.codecommit',
    resources: ['arn:aws:codecommit:eu-west-1:123456789012:karma-config'],
    detail: {
      event: 'referenceUpdated',
      repositoryName: 'karma-config',
      repositoryId: '12345678-1234-5678-abcd-12345678abcd',
      referenceType: 'branch',
      referenceName: 'main',
      referenceFullName: 'refs/heads/main',
      commitId: '7f7aa1a8d3a2e4d4c7a6f0ce0d3e2b1a9c8d7e6f',
      oldCommitId: '3e5983e2b1a9c8d7e6f7f7aa1a8d3a2e4d4c7a6f',
      ...detail,
    },
  };
}

function gitHubEvent(detail: Record<string, unknown>): object {
  return {
    ...envelope,
    'detail-type': 'GitHub Push',
    source: 'karma.github',
    resources: [],
    detail: { repository: 'acme/infra-config', ref: 'refs/heads/main', commit: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c', before: '6113728f', deleted: false, ...detail },
  };
}

describe('SSM change pattern (rule on moto)', () => {
  let matches: (event: object) => Promise<boolean>;
  beforeAll(async () => {
    matches = await ruleFor(ssmChangePattern('/karma', ['/acme/external/']));
  });
  it.each([
    ['an output created under the prefix', { operation: 'Create', name: '/karma/karma-dev/network/outputs/vpc_id' }, true],
    ['an output updated with a human description', { operation: 'Update', name: '/karma/karma-dev/dns/outputs/zone', description: 'set by the network team' }, true],
    ['an output deleted', { operation: 'Delete', name: '/karma/karma-dev/dns/outputs/zone' }, true],
    ['an external parameter the config consumes', { operation: 'Update', name: '/acme/external/datadog-api-key' }, true],
    ["Karma's own state write", { operation: 'Create', name: '/karma/karma-dev/network/state' }, false],
    ['a lock (outside the prefix)', { operation: 'Create', name: '/karma-locks/env-karma-dev' }, false],
    ['another prefix', { operation: 'Update', name: '/other/thing' }, false],
    ['the prefix without its slash', { operation: 'Update', name: '/karmafoo/x/y/outputs/z' }, false],
  ])('%s → %s', async (_name, detail, expected) => {
    expect(await matches(ssmEvent(detail))).toBe(expected);
  });
});

describe('CodeCommit push pattern (rule on moto)', () => {
  let matches: (event: object) => Promise<boolean>;
  beforeAll(async () => {
    matches = await ruleFor(codeCommitPushPattern('arn:aws:codecommit:eu-west-1:123456789012:karma-config', 'karma-config', 'main'));
  });
  it.each([
    ['referenceUpdated on the tracked branch', {}, true],
    ['referenceCreated of the tracked branch', { event: 'referenceCreated' }, true],
    ['another branch', { referenceName: 'feature', referenceFullName: 'refs/heads/feature' }, false],
    ['a tag named like the branch', { referenceType: 'tag', referenceFullName: 'refs/tags/main' }, false],
    ['the branch deleted', { event: 'referenceDeleted' }, false],
    ['another repository', { repositoryName: 'other' }, false],
  ])('%s → %s', async (_name, detail, expected) => {
    expect(await matches(codeCommitEvent(detail))).toBe(expected);
  });
});

describe('GitHub push pattern on the Karma bus (rule on moto)', () => {
  let matches: (event: object) => Promise<boolean>;
  beforeAll(async () => {
    matches = await ruleFor(gitHubPushPattern('acme', 'infra-config', 'main'));
  });
  it.each([
    ['a push to the tracked branch', {}, true],
    ['another branch', { ref: 'refs/heads/feature' }, false],
    ['a tag', { ref: 'refs/tags/main' }, false],
    ['the branch deleted', { deleted: true, commit: '0000000000000000000000000000000000000000' }, false],
    ['another repository', { repository: 'acme/other' }, false],
  ])('%s → %s', async (_name, detail, expected) => {
    expect(await matches(gitHubEvent(detail))).toBe(expected);
  });
});
