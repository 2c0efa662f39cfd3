/**
 * Loop safety: what keeps the pipeline from starting itself, re-planning forever or applying a component twice.
 *
 *  1. Own writes (isOwnWrite). A change event for a parameter Karma itself wrote must not start work: the state
 *     parameter is only written by Karma, and an output whose version is the one Karma recorded right after
 *     writing it was Karma's own write. A newer version was written by someone else: that is a real change.
 *     (The EventBridge rule already matches outputs only: lib/core/pipeline-contract.ts.)
 *  2. At most once per execution (alreadyProcessed). PlanWave re-plans after every round and excludes what this
 *     execution processed, applied or failed: nothing is applied twice, and every round that is not the last
 *     takes at least one component nobody took before.
 *  3. The guard (guardWave). Because of 2, an execution over N deployments plans at most N + 1 rounds. A plan
 *     that would take a processed component again, or a round past that bound, is a planner bug: the step
 *     fails with PipelineLoopError (the execution fails and says so) instead of applying twice or looping
 *     until Step Functions' 25,000-event history limit.
 */
import { KarmaError } from '../../core/errors.ts';
import { stateParamPath, type Config } from '../../core/model.ts';
import { parseState } from '../../core/runtime.ts';
import type { RuntimeStore } from '../../ports.ts';
import type { RunProgress, WorkItem } from './model.ts';

/** A plan that would apply a component twice in one execution, or never end. Never expected: a planner bug. */
export class PipelineLoopError extends KarmaError {
  override readonly name: string = 'PipelineLoopError';
}

/** Whether the change event for `parameter` reports a write Karma made itself (see 1 above). */
export async function isOwnWrite(config: Config, runtime: RuntimeStore, parameter: string): Promise<boolean> {
  const prefix = `${config.project.parameterPrefix}/`;
  if (!parameter.startsWith(prefix)) return false;
  const [env, component, kind, output] = parameter.slice(prefix.length).split('/');
  if (!env || !component) return false;
  if (kind === 'state' && output === undefined) return true;
  if (kind !== 'outputs' || !output) return false;
  const [current, stateParam] = await Promise.all([runtime.readNames([parameter]), runtime.readNames([stateParamPath(config.project.parameterPrefix, env, component)])]);
  const read = parseState(stateParam[0]);
  return read.kind === 'ok' && current[0] !== undefined && read.state.outputVersions[output] === current[0].version;
}

/** The components of `env` this execution already processed (applied, checked or failed): never planned again. */
export function alreadyProcessed(progress: RunProgress | undefined, env: string): Set<string> {
  return new Set((progress?.processed ?? []).filter((p) => p.env === env).map((p) => p.component));
}

/**
 * Refuses a wave that takes a processed component again, or a round past `deployments + 1` (the most an execution
 * over that many deployments can need). Returns the wave unchanged when it is sound.
 */
export function guardWave(round: number, wave: readonly WorkItem[], progress: RunProgress | undefined, deployments: number): readonly WorkItem[] {
  const limit = deployments + 1;
  if (round > limit) {
    throw new PipelineLoopError(`pipeline round ${round} exceeds ${limit} (one per targeted deployment, plus the last): the re-plan does not converge; stopping`);
  }
  const done = new Set((progress?.processed ?? []).map((p) => `${p.env}/${p.component}`));
  const again = wave.filter((w) => done.has(`${w.env}/${w.component}`)).map((w) => `${w.env}/${w.component}`);
  if (again.length > 0) {
    throw new PipelineLoopError(`round ${round} would process ${again.join(', ')} again in this execution (each component applies at most once); stopping`);
  }
  return wave;
}
