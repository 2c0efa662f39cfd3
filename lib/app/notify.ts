/**
 * The SNS publisher of the service's notifications (lib/service/notifications.ts), so the service never imports
 * the adapter itself (lint: karma/layers). The topic comes from KARMA_NOTIFY_TOPIC_ARN, else from karma.yaml
 * `notifications.sns.topicArn`; region and endpoint from the standard variables, as the pipeline's notifier.
 */
import { SnsNotifier } from '../adapters/notify/sns.ts';
import type { NotificationsConfig } from '../core/model.ts';

/** Publishes one message (subject: one line; SNS's limits are applied by the adapter). Throws a NotifyError. */
export type SnsPublish = (subject: string, message: string) => Promise<void>;

export interface SnsTarget {
  readonly topicArn: string;
  /** The event types published (karma.yaml `notifications.sns.events`); absent: all. */
  readonly events?: readonly string[];
  readonly publish: SnsPublish;
}

/** The topic events go to, or undefined when neither the environment nor karma.yaml names one. */
export function snsTopicArn(notifications: NotificationsConfig | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return env['KARMA_NOTIFY_TOPIC_ARN'] || notifications?.sns?.topicArn || undefined;
}

/** An SNS publisher for the topic of {@link snsTopicArn}, or undefined without one. */
export function openSnsTarget(notifications: NotificationsConfig | undefined, env: NodeJS.ProcessEnv): SnsTarget | undefined {
  const topicArn = snsTopicArn(notifications, env);
  if (!topicArn) return undefined;
  const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? /^arn:[^:]+:sns:([^:]+):/.exec(topicArn)?.[1];
  const endpoint = env['AWS_ENDPOINT_URL_SNS'] ?? env['AWS_ENDPOINT_URL'];
  const events = notifications?.sns?.events;
  return { topicArn, ...(events ? { events } : {}), publish: new SnsNotifier({ topicArn, ...(region ? { region } : {}), ...(endpoint ? { endpoint } : {}) }).notify };
}
