/**
 * The pipeline's steps without the state machine: PlanWave's re-plan round by round, RecordWave's fold, the loop
 * safety (own writes, at most once, the round guard) and the build history the steps leave. Local backend (SQLite
 * in a temp dir), no network. The repo: network (output vpc_id) ← app (consumes it), in karma-dev.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DirectorySource } from '../../../../lib/adapters/fs/directory-source.ts';
import { buildFromConfig, loadConfig, storeBuild } from '../../../../lib/app/build.ts';
import { localContext, type PipelineContext } from '../../../../lib/app/pipeline/context.ts';
import { alreadyProcessed, guardWave, isOwnWrite, PipelineLoopError } from '../../../../lib/app/pipeline/loop-safety.ts';
import type { PipelineState, WorkItem } from '../../../../lib/app/pipeline/model.ts';
import { buildStep, planStep, recordStep } from '../../../../lib/app/pipeline/steps.ts';
import { recordApply } from '../../../../lib/app/record.ts';
import type { Backend } from '../../../../lib/app/backend.ts';
import type { Config } from '../../../../lib/core/model.ts';
import { parseState } from '../../../../lib/core/runtime.ts';
import { diffSnapshots } from '../../../../lib/core/snapshot.ts';
import { makeRepo, makeTempDir, removeDir } from '../../../helpers/config-repo.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** A fresh repo and store, the context the steps run with, and the stores opened beside them. */
async function fresh(): Promise<{ ctx: PipelineContext; config: Config; backend: Backend }> {
  const tmp = makeTempDir('karma-steps-');
  dirs.push(tmp);
  const repo = makeRepo(tmp);
  const ctx = localContext({ configDir: repo, maxParallel: 4 });
  const config = await loadConfig(new DirectorySource(repo));
  return { ctx, config, backend: await ctx.openBackend(config) };
}

const run = { executionId: 'exec-1', trigger: 'manual', mode: 'apply' } as const;
const build = { envs: ['karma-dev'], snapshot: 'unused', vertices: 0, edges: 0 };
const item = (component: string): WorkItem => ({ env: 'karma-dev', component, mode: 'apply', commit: '', executionId: 'exec-1' });
const state = (progress?: PipelineState['progress']): PipelineState => ({ run, build, ...(progress ? { progress } : {}) });

describe('PlanWave (planStep)', () => {
  it('re-plans every round from the runtime: network, then app on its real output, then done', async () => {
    // Prepare
    const { ctx, config, backend } = await fresh();
    try {
      // Act + Assess: round 1, nothing applied: network first (app waits for it).
      expect(await planStep(state(), ctx)).toEqual({ done: false, round: 1, wave: [item('network')] });

      // network applied in round 1: app is planned on network's real output.
      await recordApply(config, backend.runtime, { env: 'karma-dev', component: 'network', result: 'success', outputs: { vpc_id: 'vpc-1' } });
      const afterNetwork = state({ round: 1, processed: [{ env: 'karma-dev', component: 'network', ok: true }] });
      expect(await planStep(afterNetwork, ctx)).toEqual({ done: false, round: 2, wave: [item('app')] });

      // both processed: done, and network is not planned again although nothing forbids it but the exclusion.
      const afterApp = state({ round: 2, processed: [...afterNetwork.progress!.processed, { env: 'karma-dev', component: 'app', ok: true }] });
      expect(await planStep(afterApp, ctx)).toEqual({ done: true, round: 3, wave: [] });
    } finally {
      await backend.close();
    }
  });

  it('a component whose apply died unrecorded is recorded failed, and its dependents early-exit', async () => {
    // Prepare: network processed, failed, nothing recorded (the build was stopped).
    const { ctx, backend } = await fresh();
    try {
      const lost = state({ round: 1, processed: [{ env: 'karma-dev', component: 'network', ok: false, error: 'States.Timeout', detail: 'CodeBuild build b:1 ended TIMED_OUT' }] });

      // Act
      const plan = await planStep(lost, ctx);

      // Assess: app is blocked behind the failed network, so nothing is left to do.
      expect(plan).toEqual({ done: true, round: 2, wave: [] });
      const recorded = parseState((await backend.runtime.readNames(['/karma/karma-dev/network/state']))[0]);
      expect(recorded.kind === 'ok' && recorded.state.result).toBe('failed');
      expect(recorded.kind === 'ok' && recorded.state.error).toBe(
        'the apply ended without recording a result (CodeBuild build b:1 ended TIMED_OUT); its resources may be partly changed',
      );
    } finally {
      await backend.close();
    }
  });

  it('a round past one per targeted deployment (plus the last) stops with PipelineLoopError', async () => {
    // Prepare: two deployments in karma-dev, so round 4 cannot happen in a sound execution.
    const { ctx, backend } = await fresh();
    try {
      // Act + Assess
      await expect(planStep(state({ round: 3, processed: [] }), ctx)).rejects.toThrow(
        new PipelineLoopError('pipeline round 4 exceeds 3 (one per targeted deployment, plus the last): the re-plan does not converge; stopping'),
      );
    } finally {
      await backend.close();
    }
  });

  it('every run is in the build history: Build always (not an ignored own write), a round when its write changed the graph', async () => {
    // Prepare
    const { ctx, config, backend } = await fresh();
    try {
      // Act
      await buildStep({ run: { ...run, env: 'karma-dev' } }, ctx);
      await planStep(state(), ctx); // round 1: nothing changed since Build
      await recordApply(config, backend.runtime, { env: 'karma-dev', component: 'network', result: 'success', outputs: { vpc_id: 'vpc-1' } });
      await planStep(state({ round: 1, processed: [{ env: 'karma-dev', component: 'network', ok: true }] }), ctx); // round 2: network applied

      // The change event of network's output, written by Karma: ignored, and nothing changed, so not recorded.
      const ignored = await buildStep({ run: { executionId: 'exec-2', trigger: 'ssm-change', mode: 'apply', parameter: '/karma/karma-dev/network/outputs/vpc_id' } }, ctx);

      // Assess: newest first.
      expect(ignored.envs).toEqual([]);
      const history = await backend.graph.listBuilds(10);
      expect(history.map((b) => b.trigger)).toEqual(['pipeline manual exec-1 round 2', 'pipeline manual exec-1 build']);
      expect(history[1]!.stats).toMatchObject({ updated: 0, deleted: 0 });
      expect(history[0]!.stats!.updated).toBeGreaterThan(0);
    } finally {
      await backend.close();
    }
  });
});

describe('graph history around a pipeline run', () => {
  it("each build's change counts equal graph diff against the build before it, pipeline builds in between", async () => {
    // Prepare: graph build; a pipeline run applies network; graph build again.
    const { ctx, config, backend } = await fresh();
    try {
      const graphBuild = async (): Promise<void> => void (await storeBuild(backend.graph, (await buildFromConfig(config, backend.runtime)).snapshot));
      await graphBuild();
      await buildStep({ run: { ...run, env: 'karma-dev' } }, ctx);
      await recordApply(config, backend.runtime, { env: 'karma-dev', component: 'network', result: 'success', outputs: { vpc_id: 'vpc-1' } });
      await planStep(state({ round: 1, processed: [{ env: 'karma-dev', component: 'network', ok: true }] }), ctx);
      await graphBuild();

      // Act
      const history = (await backend.graph.listBuilds(10)).reverse();
      const pairs = await Promise.all(
        history.slice(1).map(async (b, i) => {
          const diff = diffSnapshots((await backend.graph.readBuild(history[i]!.id))!, (await backend.graph.readBuild(b.id))!);
          return { recorded: [b.stats!.added, b.stats!.updated, b.stats!.deleted], diff: [diff.added.length, diff.changed.length, diff.removed.length] };
        }),
      );

      // Assess
      expect(history.map((b) => b.trigger ?? 'graph build')).toEqual(['graph build', 'pipeline manual exec-1 build', 'pipeline manual exec-1 round 2', 'graph build']);
      for (const p of pairs) expect(p.recorded).toEqual(p.diff);
      expect(pairs[1]!.recorded[1]).toBeGreaterThan(0);
      expect(pairs[2]!.recorded).toEqual([0, 0, 0]);
    } finally {
      await backend.close();
    }
  });
});

describe('RecordWave (recordStep)', () => {
  it('folds the wave results into the progress, with a failed item short cause', () => {
    // Prepare
    const raw = {
      run,
      build,
      progress: { round: 1, processed: [{ env: 'karma-dev', component: 'network', ok: true }] },
      plan: { done: false, round: 2, wave: [item('app'), item('cache')] },
      waveResults: [
        { env: 'karma-dev', component: 'app', outcome: 'succeeded' },
        { env: 'karma-dev', component: 'cache', outcome: 'failed', error: 'States.TaskFailed', cause: JSON.stringify({ message: 'terraform apply failed', log: '/w/apply.log' }) },
      ],
    };

    // Act
    const progress = recordStep(raw);

    // Assess
    expect(progress).toEqual({
      round: 2,
      processed: [
        { env: 'karma-dev', component: 'network', ok: true },
        { env: 'karma-dev', component: 'app', ok: true },
        { env: 'karma-dev', component: 'cache', ok: false, error: 'States.TaskFailed', detail: 'terraform apply failed', log: '/w/apply.log' },
      ],
    });
  });

  it('without a plan the round follows the progress; a bad state is one InvalidInputError naming the field', () => {
    expect(recordStep({ run, progress: { round: 4, processed: [] } })).toEqual({ round: 5, processed: [] });
    expect(() => recordStep({ run: { ...run, mode: 'destroy' } })).toThrow(/^pipeline state: run\.mode: /);
  });
});

describe('loop safety', () => {
  it('own writes: the state parameter, and an output at the version Karma recorded; not a newer one, not an outside parameter', async () => {
    // Prepare
    const { config, backend } = await fresh();
    try {
      await recordApply(config, backend.runtime, { env: 'karma-dev', component: 'network', result: 'success', outputs: { vpc_id: 'vpc-1' } });
      const output = '/karma/karma-dev/network/outputs/vpc_id';

      // Act + Assess
      expect(await isOwnWrite(config, backend.runtime, '/karma/karma-dev/network/state')).toBe(true);
      expect(await isOwnWrite(config, backend.runtime, output)).toBe(true);
      await backend.runtime.put(output, 'vpc-2');
      expect(await isOwnWrite(config, backend.runtime, output)).toBe(false);
      expect(await isOwnWrite(config, backend.runtime, '/shared/zone-id')).toBe(false);
      expect(await isOwnWrite(config, backend.runtime, '/karma/karma-dev/app/outputs/url')).toBe(false);
    } finally {
      await backend.close();
    }
  });

  it('at most once: what this execution processed in an environment, applied or failed', () => {
    const progress = { round: 2, processed: [{ env: 'karma-dev', component: 'network', ok: true }, { env: 'karma-dev', component: 'app', ok: false }, { env: 'karma-prod', component: 'dns', ok: true }] };
    expect([...alreadyProcessed(progress, 'karma-dev')]).toEqual(['network', 'app']);
    expect([...alreadyProcessed(undefined, 'karma-dev')]).toEqual([]);
  });

  it('the guard refuses a component processed already and a round past the bound; passes a sound wave', () => {
    const progress = { round: 1, processed: [{ env: 'karma-dev', component: 'network', ok: false }] };
    expect(guardWave(2, [item('app')], progress, 2)).toEqual([item('app')]);
    expect(() => guardWave(2, [item('app'), item('network')], progress, 2)).toThrow(
      'round 2 would process karma-dev/network again in this execution (each component applies at most once); stopping',
    );
    expect(() => guardWave(4, [item('app')], progress, 2)).toThrow('pipeline round 4 exceeds 3');
    expect(new PipelineLoopError('x').name).toBe('PipelineLoopError');
  });
});
