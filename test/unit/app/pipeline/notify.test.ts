/**
 * Summarize's notification: when it publishes (drift found, nothing failed), what (subject, the result table),
 * and that a failed publish never fails the step. Local backend (SQLite in a temp dir), no network.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectorySource } from '../../../../lib/adapters/fs/directory-source.ts';
import { loadConfig } from '../../../../lib/app/build.ts';
import { localContext } from '../../../../lib/app/pipeline/context.ts';
import { notificationFor } from '../../../../lib/app/pipeline/notify.ts';
import type { PipelineContext } from '../../../../lib/app/pipeline/context.ts';
import { summarizeStep } from '../../../../lib/app/pipeline/steps.ts';
import { recordApply } from '../../../../lib/app/record.ts';
import { snsMessage, snsSubject, MESSAGE_MAX_BYTES } from '../../../../lib/adapters/notify/sns.ts';
import { makeRepo, makeTempDir, removeDir } from '../../../helpers/config-repo.ts';

const tmp = makeTempDir('karma-notify-');
const repo = makeRepo(tmp);
afterAll(() => removeDir(tmp));

const build = { envs: ['karma-dev'], snapshot: 'unused', vertices: 0, edges: 0 };
const drifted = 'Plan: 0 to add, 1 to change, 0 to destroy.';

beforeAll(async () => {
  // The runtime after a drift check: network drifted, app (consuming network.vpc_id) in-sync.
  const config = await loadConfig(new DirectorySource(repo));
  const backend = await localContext({ configDir: repo }).openBackend(config);
  try {
    await recordApply(config, backend.runtime, { env: 'karma-dev', component: 'network', result: 'success', outputs: { vpc_id: 'vpc-1' }, drift: { drifted: true, summary: drifted } });
    await recordApply(config, backend.runtime, { env: 'karma-dev', component: 'app', result: 'success', outputs: { url: 'https://app' }, drift: { drifted: false } });
  } finally {
    await backend.close();
  }
});

function recording(notify?: PipelineContext['notify']): { ctx: PipelineContext; sent: { subject: string; text: string }[]; logs: string[] } {
  const sent: { subject: string; text: string }[] = [];
  const logs: string[] = [];
  const ctx: PipelineContext = {
    ...localContext({ configDir: repo, log: (m, f) => logs.push(`${m} ${JSON.stringify(f ?? {})}`) }),
    notify:
      notify ??
      (async (subject, text) => {
        sent.push({ subject, text });
      }),
  };
  return { ctx, sent, logs };
}

describe('Summarize notifications', () => {
  it('a drift run that found drift publishes one message: subject "Karma: N drifted in ENV", the result table as body', async () => {
    // Prepare
    const { ctx, sent } = recording();
    const processed = [
      { env: 'karma-dev', component: 'app', ok: true },
      { env: 'karma-dev', component: 'network', ok: true },
    ];

    // Act
    const summary = await summarizeStep({ run: { executionId: 'exec-drift-1', trigger: 'schedule', mode: 'drift' }, build, progress: { round: 2, processed } }, ctx);

    // Assess
    expect(summary.drifted).toBe(1);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.subject).toBe('Karma: 1 drifted in karma-dev');
    expect(sent[0]!.text).toContain(summary.text);
    expect(sent[0]!.text.split('\n')[0]).toBe(
      'Karma drift check (execution exec-drift-1): 1 drifted, 1 at risk (they consume outputs of drifted components). Apply to converge, or change the config to match.',
    );
    expect(summary.text).toMatch(/karma-dev\s+network\s+drifted\s+Plan: 0 to add, 1 to change, 0 to destroy\./);
    // Values never travel: the output value recorded above is not in the message.
    expect(sent[0]!.text).not.toContain('vpc-1');
  });

  it('no drift, a plan run, or a failed component: Summarize publishes nothing (a failed execution is announced by the EventBridge rule)', async () => {
    const { ctx, sent } = recording();
    const run = (mode: 'apply' | 'plan' | 'drift') => ({ executionId: `exec-${mode}`, trigger: 'manual' as const, mode });

    const inSync = await summarizeStep({ run: run('drift'), build, progress: { round: 2, processed: [{ env: 'karma-dev', component: 'app', ok: true }] } }, ctx);
    await summarizeStep({ run: run('plan'), build, progress: { round: 2, processed: [{ env: 'karma-dev', component: 'network', ok: true }] } }, ctx);
    const failed = await summarizeStep({ run: run('apply'), build, progress: { round: 2, processed: [{ env: 'karma-dev', component: 'network', ok: false, error: 'States.TaskFailed' }] } }, ctx);
    const driftAndFailed = await summarizeStep(
      { run: run('drift'), build, progress: { round: 2, processed: [{ env: 'karma-dev', component: 'network', ok: true }, { env: 'karma-dev', component: 'app', ok: false, error: 'States.TaskFailed' }] } },
      ctx,
    );

    expect(inSync.drifted).toBe(0);
    expect(failed.failed).toBe(1);
    expect(driftAndFailed).toMatchObject({ drifted: 1, failed: 1 });
    expect(sent).toEqual([]);
  });

  it('a failed publish is logged and the step still returns its summary', async () => {
    const { ctx, logs } = recording(async () => {
      throw new Error('SNS Publish to arn:aws:sns:eu-west-1:1:karma failed: AuthorizationError');
    });

    const summary = await summarizeStep(
      { run: { executionId: 'exec-drift-2', trigger: 'schedule', mode: 'drift' }, build, progress: { round: 2, processed: [{ env: 'karma-dev', component: 'network', ok: true }] } },
      ctx,
    );

    expect(summary.drifted).toBe(1);
    expect(logs.filter((l) => l.startsWith('notification failed'))).toEqual([
      `notification failed; the execution goes on ${JSON.stringify({ error: 'SNS Publish to arn:aws:sns:eu-west-1:1:karma failed: AuthorizationError', errorName: 'Error' })}`,
    ]);
  });

  it('orphaned deployments are notified on their own and beside drift; never when a component failed', () => {
    const orphan = { env: 'karma-dev', component: 'app', result: 'orphaned' as const, detail: 'no longer in the config; last applied at T' };
    const drift = { env: 'karma-prod', component: 'a', result: 'drifted' as const, detail: 'x' };
    const base = { mode: 'apply' as const, envs: ['karma-dev', 'karma-prod'], applied: 0, failed: 0, skipped: 0, text: 'T' };

    const alone = notificationFor({ ...base, rows: [orphan], drifted: 0, orphaned: 1 }, 'e');
    const both = notificationFor({ ...base, rows: [drift, orphan], drifted: 1, orphaned: 1 }, 'e');
    const failed = notificationFor({ ...base, rows: [orphan], drifted: 0, orphaned: 1, failed: 1 }, 'e');

    expect(alone?.subject).toBe('Karma: 1 orphaned in karma-dev');
    expect(alone?.text.split('\n')[0]).toBe(
      'Karma apply run (execution e): 1 orphaned: removed from the config, their resources still exist. Destroy them (karma destroy) or drop their record (karma forget).',
    );
    expect(both?.subject).toBe('Karma: 1 drifted, 1 orphaned in karma-prod, karma-dev');
    expect(failed).toBeUndefined();
  });

  it('several environments are named in the subject; the SNS adapter keeps subjects and messages within SNS limits', () => {
    const rows = [
      { env: 'karma-dev', component: 'a', result: 'drifted' as const, detail: 'x' },
      { env: 'karma-prod', component: 'a', result: 'drifted' as const, detail: 'x' },
      { env: 'karma-prod', component: 'b', result: 'drifted' as const, detail: 'x' },
    ];
    const n = notificationFor({ mode: 'drift', envs: ['karma-dev', 'karma-prod'], rows, applied: 0, failed: 0, skipped: 0, drifted: 3, orphaned: 0, text: 'T' }, 'e');

    expect(n?.subject).toBe('Karma: 3 drifted in karma-dev, karma-prod');
    expect(snsSubject(`Karma: 1 drifted in ${'x'.repeat(200)}\nnext`)).toHaveLength(100);
    expect(snsSubject('Karma: drift — ünïcode\tand\nlines')).toBe('Karma: drift ? ?n?code and lines');
    const big = snsMessage('é'.repeat(MESSAGE_MAX_BYTES));
    expect(Buffer.byteLength(big, 'utf8')).toBeLessThanOrEqual(MESSAGE_MAX_BYTES);
    expect(big.endsWith('(truncated: the whole table is in the execution output)')).toBe(true);
    expect(big).not.toContain('\uFFFD');
    expect(snsMessage('small')).toBe('small');
  });
});
