/**
 * karma.yaml `notifications:` (docs/config.md, docs/notifications.md): the shape parsed into
 * Config.project.notifications, and every mistake as one `karma.yaml:<line>: <field>: <message>` problem.
 */
import { describe, expect, it } from 'vitest';
import { SERVICE_EVENT_TYPES } from '../../../lib/app/events.ts';
import { ConfigError } from '../../../lib/core/errors.ts';
import { NOTIFICATION_EVENT_TYPES } from '../../../lib/core/model.ts';
import { parseConfig, webhookUrlProblem } from '../../../lib/core/config.ts';
import { files } from '../../support/config.ts';

const HEAD = 'project: test\nenvironments:\n  karma-dev: {}\n';

function parse(notifications: string): ReturnType<typeof parseConfig> {
  return parseConfig(files({ 'karma.yaml': `${HEAD}${notifications}` }), { source: 'test' });
}

function problems(notifications: string): string[] {
  try {
    parse(notifications);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message.split('\n');
  }
  throw new Error('expected a ConfigError');
}

describe('karma.yaml notifications', () => {
  it('parses webhooks and the SNS topic, with the defaults (format slack, every event)', () => {
    // Act
    const config = parse(
      [
        'notifications:',
        '  webhooks:',
        '    - name: ops-slack',
        '      url: https://hooks.example.com/karma',
        '      secret: {env: KARMA_OPS_SECRET}',
        '      events: [change.finished, rollout.finished]',
        '    - name: relay',
        '      url: {env: KARMA_RELAY_URL}',
        '      format: karma',
        '    - name: local',
        '      url: http://127.0.0.1:9000/hook',
        '  sns:',
        '    topicArn: arn:aws:sns:eu-west-1:123456789012:karma-notify',
        '    events: [change.finished, drift.found]',
        '',
      ].join('\n'),
    );

    // Assess
    expect(config.project.notifications).toEqual({
      webhooks: [
        { name: 'ops-slack', url: 'https://hooks.example.com/karma', secret: { env: 'KARMA_OPS_SECRET' }, events: ['change.finished', 'rollout.finished'], format: 'slack' },
        { name: 'relay', url: { env: 'KARMA_RELAY_URL' }, format: 'karma' },
        { name: 'local', url: 'http://127.0.0.1:9000/hook', format: 'slack' },
      ],
      sns: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:karma-notify', events: ['change.finished', 'drift.found'] },
    });
  });

  it('is absent without the section', () => {
    expect(parse('').project.notifications).toBeUndefined();
    expect(parse('notifications: {}\n').project.notifications).toEqual({ webhooks: [] });
  });

  it('a literal secret is refused, one line, without repeating it', () => {
    const lines = problems('notifications:\n  webhooks:\n    - name: ops\n      url: https://hooks.example.com/karma\n      secret: s3cr3t-literal-value\n');

    expect(lines).toEqual([
      'karma.yaml:8: notifications.webhooks[0].secret: a literal secret is refused (it would be in Git); write secret: {env: VAR} and set VAR where karma serve runs',
    ]);
    expect(lines.join('\n')).not.toContain('s3cr3t-literal-value');
  });

  it('bad URLs: plain http to another host, another scheme, not a URL, credentials in it', () => {
    const lines = problems(
      [
        'notifications:',
        '  webhooks:',
        '    - {name: a, url: "http://hooks.example.com/karma?token=t0ps3cret"}',
        '    - {name: b, url: "ftp://hooks.example.com/karma"}',
        '    - {name: c, url: "hooks.example.com/karma"}',
        '    - {name: d, url: "https://user:pa55word@hooks.example.com/karma"}',
        '    - {name: e, url: 42}',
        '    - {name: f, url: {env: "1BAD"}}',
        '',
      ].join('\n'),
    );

    expect(lines).toEqual([
      'karma.yaml:6: notifications.webhooks[0].url: http is accepted only to 127.0.0.1, [::1] or localhost (host here: hooks.example.com); use https',
      'karma.yaml:7: notifications.webhooks[1].url: must be an https URL (scheme here: ftp)',
      'karma.yaml:8: notifications.webhooks[2].url: is not a URL; write https://host/path',
      'karma.yaml:9: notifications.webhooks[3].url: must not carry a user or password (they would be in Git); sign with secret: {env: VAR}, or write url: {env: VAR}',
      'karma.yaml:10: notifications.webhooks[4].url: must be an https URL or {env: VAR}',
      'karma.yaml:11: notifications.webhooks[5].url.env: must be an environment variable name (letters, digits, _; not starting with a digit)',
    ]);
    expect(lines.join('\n')).not.toMatch(/t0ps3cret|pa55word/);
  });

  it('unknown event types, an empty list, an unknown format, an unknown field', () => {
    const lines = problems(
      [
        'notifications:',
        '  webhooks:',
        '    - name: a',
        '      url: https://x.example/h',
        '      events: [change.finished, change.done]',
        '      format: teams',
        '    - name: b',
        '      url: https://x.example/h',
        '      events: []',
        '      retries: 3',
        '',
      ].join('\n'),
    );

    expect(lines).toEqual([
      `karma.yaml:8: notifications.webhooks[0].events[1]: unknown event type "change.done"; the types are ${NOTIFICATION_EVENT_TYPES.join(', ')}`,
      'karma.yaml:9: notifications.webhooks[0].format: must be slack or karma',
      'karma.yaml:12: notifications.webhooks[1].events: must list at least one event type, or be left out (all of them)',
      'karma.yaml:13: notifications.webhooks[1]: unknown field "retries"; remove it (see docs/config.md)',
    ]);
  });

  it('webhook names are unique (and names like component names)', () => {
    expect(problems('notifications:\n  webhooks:\n    - {name: ops, url: "https://a.example/h"}\n    - {name: ops, url: "https://b.example/h"}\n')).toEqual([
      'karma.yaml:7: notifications.webhooks[1].name: duplicate webhook name "ops" (also webhooks[0]); names must be unique',
    ]);
    expect(problems('notifications:\n  webhooks:\n    - {name: Ops Team, url: "https://a.example/h"}\n')[0]).toMatch(/^karma\.yaml:6: notifications\.webhooks\[0\]\.name: must be lowercase letters/);
  });

  it('the SNS topic must be a standard topic ARN; its events are known types', () => {
    expect(problems('notifications:\n  sns: {topicArn: "arn:aws:sns:eu-west-1:123456789012:karma.fifo"}\n')).toEqual([
      'karma.yaml:5: notifications.sns.topicArn: must be a standard SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:karma-notify (FIFO topics are not supported)',
    ]);
    expect(problems('notifications:\n  sns:\n    topicArn: arn:aws:sns:eu-west-1:123456789012:k\n    events: [graph.change]\n')).toEqual([
      `karma.yaml:7: notifications.sns.events[0]: unknown event type "graph.change"; the types are ${NOTIFICATION_EVENT_TYPES.join(', ')}`,
    ]);
  });

  it('core lists the same event types as the service bus', () => {
    expect([...NOTIFICATION_EVENT_TYPES]).toEqual([...SERVICE_EVENT_TYPES]);
  });

  it('webhookUrlProblem accepts https anywhere and http to this machine only', () => {
    expect(webhookUrlProblem('https://hooks.slack.com/services/T0/B0/x')).toBeUndefined();
    expect(webhookUrlProblem('http://localhost:8080/h')).toBeUndefined();
    expect(webhookUrlProblem('http://[::1]:8080/h')).toBeUndefined();
    expect(webhookUrlProblem('http://127.0.0.2/h')).toMatch(/^http is accepted only to/);
    expect(webhookUrlProblem('http://localhost.evil.example/h')).toMatch(/^http is accepted only to/);
  });
});
