/**
 * Taking a deployment down on purpose: `karma destroy` (terraform destroy, then the runtime record goes) and
 * `karma forget` (the runtime record goes, the resources stay). Nothing here runs on its own: the pipeline has
 * no destroy mode and no trigger maps to one; the CLI shows the plan and asks before `applyDestroy`.
 *
 *   destroyTargets  what goes, dependents first: an orphan (and orphans that depended on it), or a deployment
 *                   still in the config and everything in its environment that depends on it
 *   planDestroy     per target: inputs resolved → var file → terraform init → plan -destroy -out (saved plan)
 *   applyDestroy    per target, in order: terraform apply <saved plan> → delete the runtime record; stops at
 *                   the first failure (what is left keeps its record and shows as it was)
 *   forgetRecord    deletes `<prefix>/<env>/<component>/…` (state and outputs)
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { KarmaError, UsageError, unknownEnvironment } from '../core/errors.ts';
import type { Build } from '../core/graph.ts';
import { deploymentKey, type Config, type RepoFile } from '../core/model.ts';
import { crossEnvironmentDependents, destroyClosure, type Waves } from '../core/order.ts';
import type { Orphan } from '../core/orphans.ts';
import type { LockHolder, LockInfo, LockStore, Progress, RunResult, RuntimeStore, TerraformRunner } from '../ports.ts';
import { describeHolder, holderState, type ProcessProbe } from './locks.ts';
import { silentProgress } from '../ports.ts';
import { redactor, terraformErrorLine } from '../adapters/terraform/runner.ts';
import { writeSecretFile } from '../adapters/terraform/cleanup.ts';
import { prepareWorkingCopy, readPlanSummary, resolveInputs, type StateOptions } from './component.ts';

export class DestroyError extends KarmaError {
  override readonly name: string = 'DestroyError';
}

/** The environment is locked by a pipeline execution (or another destroy). */
export class EnvironmentBusyError extends KarmaError {
  override readonly name: string = 'EnvironmentBusyError';
}

export interface DestroySelection {
  readonly env: string;
  readonly component: string;
  /** Gone from the config: the module comes from an older commit. */
  readonly orphaned: boolean;
  readonly orphan?: Orphan;
  /** Dependents first. */
  readonly waves: Waves;
}

/**
 * What `karma destroy COMPONENT ENV` takes down. `current` is the build of the config as it is now. For an
 * orphan, `moduleConfig` is the config at a commit where it was still deployed: its dependents there that are
 * orphaned now go first. For a deployment in the config: it and its dependents in the environment that have a
 * runtime record; dependents in other environments must be destroyed first (refused, naming them).
 */
export function destroyTargets(current: Build, env: string, component: string, moduleConfig?: Config): DestroySelection {
  if (!current.config.project.environments.has(env)) throw unknownEnvironment(env, current.config.project.environments.keys());
  const orphan = current.orphans.find((o) => o.env === env && o.component === component);
  const applied = (name: string): boolean => {
    const s = current.statuses.get(deploymentKey(env, name));
    return s !== undefined && (s.own !== 'never-applied' || s.status === 'orphaned');
  };
  if (orphan) {
    if (!moduleConfig) throw new UsageError(`${component} in ${env} is orphaned; its module is needed to destroy it (internal: no config given)`);
    if (!moduleConfig.deployments.some((d) => d.env === env && d.component === component)) {
      throw new UsageError(`${component} is not deployed in ${env} at ${moduleConfig.commit?.slice(0, 7) ?? moduleConfig.source}; pass --ref with a commit where environments/${env}/${component}.json exists`);
    }
    const isOrphan = (name: string): boolean => current.orphans.some((o) => o.env === env && o.component === name);
    return { env, component, orphaned: true, orphan, waves: destroyClosure(moduleConfig, env, component, isOrphan) };
  }
  if (!current.config.deployments.some((d) => d.env === env && d.component === component)) {
    throw new UsageError(`nothing to destroy: ${component} is not deployed in ${env} and the runtime holds no record of it there`);
  }
  if (!applied(component)) throw new UsageError(`nothing to destroy: ${component} was never applied in ${env}`);
  const across = crossEnvironmentDependents(current.config, env, component).filter((key) => {
    const s = current.statuses.get(key);
    return s !== undefined && s.own !== 'never-applied';
  });
  if (across.length > 0) {
    const [first] = across;
    const [e, c] = first!.split('/');
    throw new UsageError(`${across.join(', ')} consume${across.length === 1 ? 's' : ''} ${component}'s outputs from another environment; destroy ${across.length === 1 ? 'it' : 'them'} first (karma destroy ${c} ${e})`);
  }
  return { env, component, orphaned: false, waves: destroyClosure(current.config, env, component, applied) };
}

export interface DestroyPlan {
  readonly env: string;
  readonly component: string;
  /** Terraform's summary line: `Plan: 0 to add, 0 to change, 2 to destroy.` or `No changes.` */
  readonly summary: string;
  /** Addresses of the resources the plan destroys. */
  readonly resources: readonly string[];
}

export interface DestroyRunOptions extends StateOptions {
  /** The files of the config the modules come from. */
  readonly files: readonly RepoFile[];
  readonly workRoot: string;
  readonly runner: TerraformRunner;
  readonly progress?: Progress;
}

const PLAN_FILE = 'karma-destroy.tfplan';
const VAR_FILE = 'karma.tfvars.json';

/** A saved plan holds the variables' values (secrets included): kept 0600 and removed after use or on abort. */
const secretsOf = new WeakMap<DestroyPlan, readonly unknown[]>();

function workDirOf(options: DestroyRunOptions, env: string, component: string): string {
  return join(options.workRoot, env, component);
}

/** `terraform plan -destroy` for every target, dependents first; a plan that fails stops here (nothing destroyed). */
export async function planDestroy(config: Config, runtime: RuntimeStore, selection: DestroySelection, options: DestroyRunOptions): Promise<DestroyPlan[]> {
  const progress = options.progress ?? silentProgress;
  const plans: DestroyPlan[] = [];
  try {
    for (const component of selection.waves.flat()) {
      const env = selection.env;
      const { inputs, secrets } = await resolveInputs(config, runtime, env, component);
      // The same working copy and state backend as its applies: destroy must see the state they wrote.
      const { workDir, initArgs } = await prepareWorkingCopy(config, runtime, { env, component, files: options.files, workRoot: options.workRoot }, options);
      const log = join(workDir, 'destroy.log');
      rmSync(log, { force: true });
      // The resolved inputs exist on disk only while the plan runs, and go on SIGINT/SIGTERM too (cleanup.ts).
      const removeVarFile = writeSecretFile(join(workDir, VAR_FILE), JSON.stringify(inputs, null, 2));
      // Terraform wraps long explanations: the joined error is redacted again (component.ts does the same).
      const errorLine = (r: RunResult): string => redactor(secrets)(terraformErrorLine(r));
      const tf = (args: string[], logStdout = true) => options.runner.run(args, { cwd: workDir, log, redact: secrets, logStdout });
      try {
        progress.step(`${env}/${component}: terraform init`);
        const init = await tf(initArgs);
        if (init.code !== 0) throw new DestroyError(`${env}/${component}: terraform init failed: ${errorLine(init)}; nothing was destroyed (log: ${log})`);
        progress.step(`${env}/${component}: terraform plan -destroy`);
        const plan = await tf(['plan', '-destroy', '-input=false', '-no-color', '-detailed-exitcode', `-var-file=${VAR_FILE}`, `-out=${PLAN_FILE}`]);
        if (plan.code !== 0 && plan.code !== 2) {
          throw new DestroyError(`${env}/${component}: terraform plan -destroy failed: ${errorLine(plan)}; nothing was destroyed (log: ${log})`);
        }
        const read = await readPlanSummary(tf, errorLine, PLAN_FILE);
        if ('error' in read) throw new DestroyError(`${env}/${component}: reading the destroy plan failed: ${read.error}; nothing was destroyed (log: ${log})`);
        const p: DestroyPlan = { env, component, summary: read.summary.line, resources: read.summary.resources.map((r) => r.address) };
        secretsOf.set(p, secrets);
        plans.push(p);
      } finally {
        removeVarFile();
      }
    }
  } catch (error) {
    discardPlans(plans, options);
    throw error;
  }
  return plans;
}

/** Removes the saved plans (after a refusal, a failure, or once applied). */
export function discardPlans(plans: readonly DestroyPlan[], options: Pick<DestroyRunOptions, 'workRoot'>): void {
  for (const p of plans) rmSync(join(options.workRoot, p.env, p.component, PLAN_FILE), { force: true });
}

export interface DestroyOutcome {
  readonly env: string;
  readonly component: string;
  readonly outcome: 'destroyed' | 'failed' | 'not-run';
  readonly error?: string;
  /** Runtime parameters deleted after the destroy. */
  readonly forgotten?: number;
}

/** Applies the saved plans in order; after each success the runtime record goes. Stops at the first failure. */
export async function applyDestroy(config: Config, runtime: RuntimeStore, plans: readonly DestroyPlan[], options: DestroyRunOptions): Promise<DestroyOutcome[]> {
  const progress = options.progress ?? silentProgress;
  const outcomes: DestroyOutcome[] = [];
  try {
    for (const p of plans) {
      if (outcomes.some((o) => o.outcome === 'failed')) {
        outcomes.push({ env: p.env, component: p.component, outcome: 'not-run' });
        continue;
      }
      const workDir = workDirOf(options, p.env, p.component);
      const log = join(workDir, 'destroy.log');
      progress.step(`${p.env}/${p.component}: terraform apply (destroy)`);
      const result = await options.runner.run(['apply', '-input=false', '-no-color', PLAN_FILE], { cwd: workDir, log, redact: secretsOf.get(p) ?? [] });
      if (result.code !== 0) {
        outcomes.push({ env: p.env, component: p.component, outcome: 'failed', error: `${redactor(secretsOf.get(p) ?? [])(terraformErrorLine(result))} (log: ${log})` });
        continue;
      }
      const { deleted } = await forgetRecord(config, runtime, p.env, p.component);
      outcomes.push({ env: p.env, component: p.component, outcome: 'destroyed', forgotten: deleted });
    }
  } finally {
    discardPlans(plans, options);
  }
  return outcomes;
}

/** The runtime record of a deployment: every parameter under `<prefix>/<env>/<component>/`. */
export async function runtimeRecord(config: Config, runtime: RuntimeStore, env: string, component: string): Promise<string[]> {
  return (await runtime.readPath(`${config.project.parameterPrefix}/${env}/${component}`)).map((p) => p.name);
}

export async function forgetRecord(config: Config, runtime: RuntimeStore, env: string, component: string): Promise<{ deleted: number; names: string[] }> {
  const names = await runtimeRecord(config, runtime, env, component);
  const { deleted } = names.length > 0 ? await runtime.delete(names) : { deleted: 0 };
  return { deleted, names };
}

/**
 * Holds the environment's pipeline lock (`env-<env>`, the one every execution takes) while `fn` runs, so a
 * destroy never races an apply. A busy lock is an EnvironmentBusyError naming its holder; with `probe`, a lock
 * whose holder died on this host is taken over (`onTookOver` hears of it).
 */
export async function withEnvironmentLock<T>(
  locks: LockStore,
  env: string,
  holder: LockHolder,
  fn: () => Promise<T>,
  options: { readonly probe?: ProcessProbe; readonly onTookOver?: (lock: LockInfo) => void } = {},
): Promise<T> {
  const owner = holder.owner;
  // With a probe, a lock whose holder is a dead process on this host (a killed karma serve or apply) is taken
  // over at once, as the pipeline's AcquireLock does.
  const now = new Date();
  const { probe } = options;
  const got = await locks.acquire([`env-${env}`], holder, 6 * 3600, probe ? { canTakeOver: (lock) => holderState(lock, now, probe) === 'dead' } : {});
  for (const lock of got.tookOver) options.onTookOver?.(lock);
  if (!got.acquired) {
    throw new EnvironmentBusyError(`${env} is locked by ${got.heldBy ? describeHolder(got.heldBy) : 'another run'}: a pipeline is applying there; try again when it has finished`);
  }
  try {
    return await fn();
  } finally {
    await locks.release([`env-${env}`], owner);
  }
}
