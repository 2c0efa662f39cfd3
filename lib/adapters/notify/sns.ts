/**
 * Notifications to an SNS topic (the stack's KMS-encrypted topic; KARMA_NOTIFY_TOPIC_ARN). One Publish per
 * message. SNS limits what it accepts, so the adapter makes any text fit: the subject becomes printable ASCII
 * on one line, at most 100 characters; the message is cut at 256 KiB (bytes) with a note saying so.
 * A failed Publish is a NotifyError naming the topic and the AWS error; callers decide whether that matters
 * (the pipeline logs it and goes on).
 */
import { PublishCommand, SNSClient, type SNSClientConfig } from '@aws-sdk/client-sns';
import { NotifyError } from '../errors.ts';

export interface SnsNotifierOptions {
  readonly topicArn: string;
  /** A ready client (tests, custom credentials). Otherwise one is built from the standard SDK chain. */
  readonly client?: SNSClient;
  readonly region?: string;
  /** Endpoint override (a local moto server). */
  readonly endpoint?: string;
}

export const SUBJECT_MAX = 100;
export const MESSAGE_MAX_BYTES = 256 * 1024;
const TRUNCATED = '\n... (truncated: the whole table is in the execution output)';

/** SNS subjects: ASCII, no line breaks or control characters, ≤ 100 characters. */
export function snsSubject(subject: string): string {
  const clean = subject.replace(/\s+/g, ' ').replace(/[^\x20-\x7e]/g, '?').trim() || 'Karma';
  return clean.length <= SUBJECT_MAX ? clean : `${clean.slice(0, SUBJECT_MAX - 3)}...`;
}

/** The message cut to SNS's 256 KiB (UTF-8 bytes), with a note when cut. */
export function snsMessage(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MESSAGE_MAX_BYTES) return text;
  const room = MESSAGE_MAX_BYTES - Buffer.byteLength(TRUNCATED, 'utf8');
  // Decoding a cut in the middle of a character yields U+FFFD; drop it.
  return bytes.subarray(0, room).toString('utf8').replace(/\uFFFD+$/, '') + TRUNCATED;
}

export class SnsNotifier {
  readonly client: SNSClient;
  readonly topicArn: string;

  constructor(options: SnsNotifierOptions) {
    this.topicArn = options.topicArn;
    const config: SNSClientConfig = {
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    };
    this.client = options.client ?? new SNSClient(config);
  }

  /** Publishes one message; returns SNS's message id. */
  async publish(subject: string, text: string): Promise<string> {
    try {
      const out = await this.client.send(new PublishCommand({ TopicArn: this.topicArn, Subject: snsSubject(subject), Message: snsMessage(text) }));
      return out.MessageId ?? '';
    } catch (error) {
      const e = error as { name?: string; message?: string };
      throw new NotifyError(`SNS Publish to ${this.topicArn} failed: ${e.name ?? 'Error'}${e.message && e.message !== e.name ? `: ${e.message}` : ''}`, { cause: error });
    }
  }

  /** As PipelineContext['notify']. */
  get notify(): (subject: string, text: string) => Promise<void> {
    return async (subject, text) => {
      await this.publish(subject, text);
    };
  }
}
