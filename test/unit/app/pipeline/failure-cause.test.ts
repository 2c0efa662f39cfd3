/** RecordWave's reading of a failed Map item's cause: the local runner's JSON, or the CodeBuild build record in AWS. */
import { describe, expect, it } from 'vitest';
import { failureOf } from '../../../../lib/app/pipeline/steps.ts';

describe('failureOf', () => {
  it('local: the component command\'s message and log', () => {
    expect(failureOf(JSON.stringify({ message: 'timed out after 4 s; terraform was stopped (SIGKILL)', log: '/r/.karma/work/dev/up/apply.log' }))).toEqual({
      detail: 'timed out after 4 s; terraform was stopped (SIGKILL)',
      log: '/r/.karma/work/dev/up/apply.log',
    });
  });

  it('AWS: the status and the log link of the build record startBuild.sync fails with, not the whole record', () => {
    const cause = JSON.stringify({ Build: { Id: 'karma-apply:1f2e', BuildStatus: 'TIMED_OUT', Phases: [{ PhaseType: 'BUILD' }], Logs: { DeepLink: 'https://console.aws.amazon.com/cloudwatch/home#logEvent:group=x' } } });
    expect(failureOf(cause)).toEqual({ detail: 'CodeBuild build karma-apply:1f2e ended TIMED_OUT', log: 'https://console.aws.amazon.com/cloudwatch/home#logEvent:group=x' });
  });

  it('anything else: its text, cut short; nothing when there is no cause', () => {
    expect(failureOf('Task timed out')).toEqual({ detail: 'Task timed out' });
    expect(failureOf('x'.repeat(900)).detail).toHaveLength(500);
    expect(failureOf(undefined)).toEqual({});
  });
});
