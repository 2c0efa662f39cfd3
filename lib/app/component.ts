/**
 * The Terraform work of ONE component, as one command (`karma component apply|plan|drift COMPONENT ENV`):
 * resolve inputs (secrets included) → a var file → terraform init → apply (or plan -detailed-exitcode) →
 * terraform output -json → outputs and state in the runtime store. CodeBuild's buildspec runs exactly this
 * command, and so does the local pipeline runner.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { KarmaError } from '../core/errors.ts';
import { canonicalJson, sha256 } from '../core/hash.ts';
import { summarizePlanJson, type PlanSummary } from '../core/plan.ts';
import { z } from 'zod';
import { outputParamPath, stateParamPath, type ComponentDef, type Config, type RepoFile } from '../core/model.ts';
import { resolveReferences } from '../core/references.ts';
import { decodeOutput, parseState } from '../core/runtime.ts';
import { backendBlockFile, backendConfigFile, resolveState, type ResolvedState } from '../core/state-backend.ts';
import type { StateSettings } from '../core/model.ts';
import type { Clock, Progress, RunResult, RuntimeStore, TerraformRunner } from '../ports.ts';
import { silentProgress, systemClock } from '../ports.ts';
import { redactor, terraformErrorLine } from '../adapters/terraform/runner.ts';
import { writeSecretFile } from '../adapters/terraform/cleanup.ts';
import { installInProgress, LOCK_FILE, planCacheUse, recordInit, withInstallLock, type CacheUse } from '../adapters/terraform/plugin-cache.ts';
import { findDeployment, recordApply, recordDrift } from './record.ts';

export type ComponentMode = 'apply' | 'plan' | 'drift';
export type ComponentOutcome = 'applied' | 'failed' | 'no-changes' | 'changes' | 'in-sync' | 'drifted';

export interface ComponentRunResult {
  readonly env: string;
  readonly component: string;
  readonly mode: ComponentMode;
  readonly outcome: ComponentOutcome;
  readonly error?: string;
  /** Outputs whose value (and so version) changed: their consumers are now stale-inputs. */
  readonly changedOutputs?: readonly string[];
  readonly millis: number;
  /** How long `terraform init` took (absent when the run failed before it). */
  readonly initMillis?: number;
  /** How init used the shared provider cache (absent without one): see lib/adapters/terraform/plugin-cache.ts. */
  readonly providerCache?: CacheUse;
  /** plan mode: what the plan does (addresses and actions only). */
  readonly plan?: PlanSummary;
  /** plan mode: Terraform's plan text, redacted (shown with -v). */
  readonly planText?: string;
  /**
   * plan mode with `inputsSalt`: a salted hash of the resolved inputs the plan used (secrets included: salted, so
   * a weak secret cannot be tested against it offline).
   */
  readonly inputsHash?: string;
  /** A saved plan was not applied: nothing ran and nothing was recorded (see ComponentRunOptions.savedPlan). */
  readonly refused?: 'stale-plan' | 'inputs-changed';
}

/** Where plan mode leaves the summary of its last plan in the working directory (read by the local pipeline). */
export const PLAN_SUMMARY_FILE = 'plan-summary.json';

export class InputResolutionError extends KarmaError {
  override readonly name: string = 'InputResolutionError';
}

const VAR_FILE = 'karma.tfvars.json';
/** Karma's backend block, added when the module declares none; and the backend's settings, passed to init. */
const BACKEND_BLOCK = 'karma_backend.tf.json';
const BACKEND_CONFIG = 'karma.tfbackend';
const MANIFEST = '.karma-module-files.json';
const NOT_MODULE = /(^|\/)(\.terraform\/|terraform\.tfstate|\.terraform\.tfstate)/;

/**
 * Resolves the component's inputs against the runtime: the values Terraform receives, secrets included, and
 * the secret values among them (SecureString parameters, outputs their producer marks sensitive) so they
 * can be kept out of every log: strings, or whole maps and lists, whose every leaf the redactor hides.
 */
export async function resolveInputs(
  config: Config,
  runtime: RuntimeStore,
  env: string,
  component: string,
): Promise<{ inputs: Record<string, unknown>; secrets: unknown[] }> {
  const d = findDeployment(config, env, component);
  const prefix = config.project.parameterPrefix;
  const paths = new Set<string>();
  const producers = new Set<string>();
  for (const r of d.references) {
    if (r.kind === 'ssm') paths.add(r.path);
    else {
      paths.add(outputParamPath(prefix, r.env, r.component, r.output));
      producers.add(stateParamPath(prefix, r.env, r.component));
    }
  }
  const params = new Map((await runtime.readNames([...paths, ...producers])).map((p) => [p.name, p]));
  const secrets: unknown[] = [];
  const inputs = resolveReferences(d.inputs, env, (target) => {
    if (target.kind === 'ssm') {
      const p = params.get(target.path);
      if (!p) throw new InputResolutionError(`${component} in ${env}: parameter ${target.path} does not exist; create it, then apply again`);
      if (p.type === 'SecureString') secrets.push(p.value);
      return p.value;
    }
    const path = outputParamPath(prefix, target.env, target.component, target.output);
    const p = params.get(path);
    if (!p) throw new InputResolutionError(`${component} in ${env}: ${target.component}.${target.output} has no value yet (${path}); apply ${target.component} in ${target.env} first`);
    const producer = parseState(params.get(stateParamPath(prefix, target.env, target.component)));
    const value = decodeOutput(p, producer.kind === 'ok' ? producer.state.outputs[target.output] : undefined);
    if (p.type === 'SecureString' || config.components.get(target.component)?.sensitiveOutputs.includes(target.output)) {
      secrets.push(p.value, value);
    }
    return value;
  }) as Record<string, unknown>;
  return { inputs, secrets };
}

/** Copies the module's files into the work directory, removing files an earlier copy left that are gone now. */
export function syncModule(files: readonly RepoFile[], moduleDir: string, workDir: string): void {
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const prefix = moduleDir === '.' ? '' : `${moduleDir}/`;
  const wanted = files.filter((f) => f.path.startsWith(prefix) && !NOT_MODULE.test(f.path)).map((f) => ({ rel: f.path.slice(prefix.length), bytes: f.bytes }));
  const manifestPath = join(workDir, MANIFEST);
  const previous: string[] = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as string[]) : [];
  const now = new Set(wanted.map((w) => w.rel));
  for (const rel of previous) if (!now.has(rel)) rmSync(join(workDir, ...rel.split('/')), { force: true });
  for (const w of wanted) {
    const target = join(workDir, ...w.rel.split('/'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, w.bytes);
  }
  writeFileSync(manifestPath, JSON.stringify([...now].sort()));
}

/** What `terraform output -json` prints: every output by name, with Terraform's own `sensitive` flag. */
const TerraformOutputs = z.record(z.string(), z.looseObject({ value: z.unknown(), sensitive: z.boolean().default(false) }));

type OutputsRead =
  | { readonly kind: 'ok'; readonly outputs: Record<string, unknown>; readonly sensitive: string[] }
  | { readonly kind: 'error'; readonly message: string };

/**
 * The declared outputs from `terraform output -json`, and which of them Terraform marks sensitive (secret,
 * whatever component.yaml says). Its stdout is never quoted in a message: it holds sensitive values in clear.
 */
function readOutputs(stdout: string, def: ComponentDef): OutputsRead {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    return { kind: 'error', message: `terraform output -json printed no valid JSON (${stdout.length} character${stdout.length === 1 ? '' : 's'} on stdout); is the configured binary (--terraform, $KARMA_TERRAFORM, karma.yaml terraform.binary) terraform or tofu?` };
  }
  const parsed = TerraformOutputs.safeParse(json);
  if (!parsed.success) {
    return { kind: 'error', message: 'terraform output -json printed JSON that is not a map of outputs ({"name": {"value": ...}}); is the configured binary terraform or tofu?' };
  }
  const missing = def.outputs.filter((name) => parsed.data[name] === undefined || parsed.data[name].value === null || parsed.data[name].value === undefined);
  if (missing.length > 0) {
    return {
      kind: 'error',
      message: `the module produced no value for declared output${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; add ${missing.length > 1 ? 'them' : 'it'} to the module in ${def.terraform} (an output block with a non-null value) or remove ${missing.length > 1 ? 'them' : 'it'} from outputs in ${def.file}`,
    };
  }
  const outputs: Record<string, unknown> = {};
  for (const name of def.outputs) outputs[name] = parsed.data[name]!.value;
  return { kind: 'ok', outputs, sensitive: def.outputs.filter((name) => parsed.data[name]!.sensitive) };
}

/**
 * `terraform show -json PLANFILE` reduced to addresses and actions (core/plan.ts). Its stdout holds the planned
 * values unredacted: parsed here, never shown, never logged; only stderr may explain a failure.
 */
export async function readPlanSummary(
  tf: (args: string[], logStdout?: boolean) => Promise<RunResult>,
  errorLine: (result: RunResult) => string,
  planFile: string,
): Promise<{ summary: PlanSummary } | { error: string }> {
  const shown = await tf(['show', '-json', '-no-color', planFile], false);
  if (shown.code !== 0) return { error: errorLine({ ...shown, stdout: '' }) };
  try {
    return { summary: summarizePlanJson(JSON.parse(shown.stdout)) };
  } catch {
    return { error: `terraform show -json printed no readable plan (${shown.stdout.length} character${shown.stdout.length === 1 ? '' : 's'}); is the configured binary terraform or tofu?` };
  }
}

export function planSummary(stdout: string): string | undefined {
  const m = /(Plan: \d+ to add, \d+ to change, \d+ to destroy\.)/.exec(stdout) ?? /(No changes\.)/.exec(stdout);
  return m?.[1];
}

export interface ComponentRunOptions {
  readonly env: string;
  readonly component: string;
  readonly mode: ComponentMode;
  /** The config repo's files (the module is copied from them). */
  readonly files: readonly RepoFile[];
  /** Where per-component Terraform working directories live (scratch: safe to delete). */
  readonly workRoot: string;
  /** Where local state lives when the backend is local (default backend): a folder no Karma command wipes. */
  readonly stateRoot: string;
  /** The backend to use when karma.yaml leaves state local (CodeBuild: the stack's state bucket). */
  readonly remoteState?: StateSettings;
  /** Refuse local state (a CodeBuild container is thrown away after the build, and its state with it). */
  readonly requireRemoteState?: boolean;
  /** The operator moved the state to the configured backend: accept a location other than the recorded one. */
  readonly stateMoved?: boolean;
  readonly runner: TerraformRunner;
  readonly commit?: string;
  readonly clock?: Clock;
  readonly progress?: Progress;
  /** The shared provider plugin cache (TF_PLUGIN_CACHE_DIR); none: each working directory installs its own. */
  readonly pluginCacheDir?: string;
  /** plan mode: keep the saved plan (`terraform plan -out`) at this path, mode 0600; else it is deleted at once. */
  readonly planOut?: string;
  /**
   * apply mode: apply this saved plan (`terraform apply PLANFILE`) instead of planning anew. Refused, nothing run
   * and nothing recorded, when the resolved inputs no longer hash to `inputsHash`, or when Terraform finds the
   * state changed since the plan ("Saved plan is stale").
   */
  readonly savedPlan?: { readonly file: string; readonly inputsHash: string; readonly inputsSalt: string };
  /** plan mode: return `inputsHash`, the resolved inputs hashed with this (random, kept private) salt. */
  readonly inputsSalt?: string;
}

export async function runComponent(config: Config, runtime: RuntimeStore, options: ComponentRunOptions): Promise<ComponentRunResult> {
  const started = performance.now();
  const clock = options.clock ?? systemClock;
  const progress = options.progress ?? silentProgress;
  const { env, component, mode } = options;
  const d = findDeployment(config, env, component);
  const def = config.components.get(d.component)!;
  const timing: { initMillis?: number; providerCache?: CacheUse } = {};
  const done = (outcome: ComponentOutcome, extra: Partial<Pick<ComponentRunResult, 'error' | 'changedOutputs' | 'plan' | 'planText' | 'inputsHash' | 'refused'>> = {}): ComponentRunResult => ({
    env,
    component,
    mode,
    outcome,
    ...extra,
    millis: Math.round(performance.now() - started),
    ...timing,
  });

  const commit = options.commit ?? config.commit;
  let prepared: Awaited<ReturnType<typeof prepareWorkingCopy>> | undefined;
  try {
    prepared = await prepareWorkingCopy(config, runtime, { env, component, files: options.files, workRoot: options.workRoot }, options, progress);
  } catch (error) {
    // Nothing ran: recorded failed (its dependents wait), keeping the location it was last applied with.
    if (error instanceof StateLocationError) return failed(error.detail, error.recorded ?? null);
    throw error;
  }
  const { workDir, initArgs, state } = prepared;
  const { inputs, secrets } = await resolveInputs(config, runtime, env, component);
  const salt = options.savedPlan?.inputsSalt ?? options.inputsSalt;
  const inputsHash = salt === undefined ? undefined : sha256(`${salt}\n${canonicalJson(inputs)}`);
  if (mode === 'apply' && options.savedPlan && options.savedPlan.inputsHash !== inputsHash) {
    return done('failed', { refused: 'inputs-changed', error: `${env}/${component}: its resolved inputs changed since the plan was made (an upstream output or a parameter moved); the saved plan is not applied` });
  }
  const log = join(workDir, `${mode}.log`);
  rmSync(log, { force: true });
  const varFile = join(workDir, VAR_FILE);
  // A run killed with SIGKILL could not remove its var file: never leave it for longer than the next run.
  rmSync(varFile, { force: true });
  const moduleLock = `${def.terraform === '.' ? '' : `${def.terraform}/`}${LOCK_FILE}`;
  const cacheDir = options.pluginCacheDir;
  const planCache = () => (cacheDir ? planCacheUse({ cacheDir, workDir, committedLock: options.files.some((f) => f.path === moduleLock) }) : undefined);
  let cache = planCache();
  // Terraform wraps long explanations; joining the wrapped lines can rebuild a secret that no single line held.
  const clean = redactor(secrets);
  const errorLine = (result: RunResult): string => clean(terraformErrorLine(result));
  const tf = (args: string[], logStdout = true) => options.runner.run(args, { cwd: workDir, log, redact: secrets, logStdout, ...(cache ? { env: cache.env } : {}) });
  /** The resolved inputs (secrets included) exist on disk only while the command that reads them runs. */
  const withInputs = async (args: string[]): Promise<RunResult> => {
    const remove = writeSecretFile(varFile, JSON.stringify(inputs, null, 2));
    try {
      return await tf([...args, `-var-file=${VAR_FILE}`]);
    } finally {
      remove();
    }
  };

  const runInit = () => {
    progress.step(`${env}/${component}: terraform init${cache ? ` (provider cache: ${cache.use})` : ''}`);
    if (cache?.note) progress.step(`${env}/${component}: ${cache.note}`);
    return tf(initArgs);
  };
  const initStarted = performance.now();
  // One init at a time may write the provider cache (see plugin-cache.ts), planned again once it holds the lock;
  // only an init that links, planned while nobody installs, runs at once.
  const init =
    cacheDir && (cache?.use !== 'link' || installInProgress(cacheDir))
      ? await withInstallLock(
          cacheDir,
          () => {
            cache = planCache();
            return runInit();
          },
          { onWait: (holder) => progress.step(`${env}/${component}: waiting for the provider cache (installing: ${holder})`) },
        )
      : await runInit();
  timing.initMillis = Math.round(performance.now() - initStarted);
  if (cache) timing.providerCache = cache.use;
  if (init.code !== 0) {
    if (/Backend configuration changed|Backend initialization required|state migration/i.test(`${init.stderr}\n${init.stdout}`)) {
      return await failed(
        `the state backend changed (now ${state.location}); Karma never moves state on its own: move it with ` +
          `terraform -chdir=${workDir} init -migrate-state -backend-config=${BACKEND_CONFIG} (see docs/state.md), then run again`,
      );
    }
    return await failed(errorLine(init));
  }
  recordInit(workDir);

  if (mode === 'apply') {
    let apply: RunResult;
    if (options.savedPlan) {
      progress.step(`${env}/${component}: terraform apply (the saved plan)`);
      // A saved plan carries its variables: Terraform refuses -var-file with it, so no var file is written.
      apply = await tf(['apply', '-input=false', '-no-color', options.savedPlan.file]);
      if (apply.code !== 0 && /Saved plan is stale/i.test(`${apply.stderr}\n${apply.stdout}`)) {
        return done('failed', { refused: 'stale-plan', error: `${env}/${component}: the state changed since the plan was made (Terraform: "Saved plan is stale"); nothing was applied` });
      }
    } else {
      progress.step(`${env}/${component}: terraform apply`);
      apply = await withInputs(['apply', '-input=false', '-auto-approve', '-no-color']);
    }
    if (apply.code !== 0) return await failed(errorLine(apply));
    const out = await tf(['output', '-json', '-no-color'], false);
    // Its stdout holds the outputs unredacted: only stderr may explain a failure.
    if (out.code !== 0) return await failed(errorLine({ ...out, stdout: '' }));
    const read = readOutputs(out.stdout, def);
    if (read.kind === 'error') return await failed(read.message);
    const paths = def.outputs.map((o) => outputParamPath(config.project.parameterPrefix, env, component, o));
    const before = new Map((await runtime.readNames(paths)).map((p) => [p.name, p.version]));
    await recordApply(config, runtime, { env, component, result: 'success', outputs: read.outputs, sensitive: read.sensitive, stateLocation: state.location, ...(commit ? { commit } : {}), initMillis: timing.initMillis }, clock);
    const after = await runtime.readNames(paths);
    const changedOutputs = after.filter((p) => before.get(p.name) !== p.version).map((p) => posix.basename(p.name));
    return done('applied', { changedOutputs });
  }

  progress.step(`${env}/${component}: terraform plan`);
  if (mode === 'plan') {
    // A saved plan holds every variable's value, secrets included: 0600, and deleted unless the caller keeps it.
    const planFile = options.planOut ?? join(workDir, 'karma.tfplan');
    rmSync(join(workDir, PLAN_SUMMARY_FILE), { force: true });
    try {
      const plan = await withInputs(['plan', '-input=false', '-no-color', '-detailed-exitcode', `-out=${planFile}`]);
      if (plan.code !== 0 && plan.code !== 2) return done('failed', { error: errorLine(plan) });
      if (existsSync(planFile)) chmodSync(planFile, 0o600);
      const read = await readPlanSummary(tf, errorLine, planFile);
      if ('error' in read) return done('failed', { error: read.error });
      const { summary } = read;
      writeFileSync(join(workDir, PLAN_SUMMARY_FILE), JSON.stringify({ ...summary, commit: commit ?? null }), { mode: 0o600 });
      return done(plan.code === 2 ? 'changes' : 'no-changes', { plan: summary, planText: plan.stdout, ...(inputsHash ? { inputsHash } : {}) });
    } finally {
      if (!options.planOut) rmSync(planFile, { force: true });
    }
  }
  const plan = await withInputs(['plan', '-input=false', '-no-color', '-detailed-exitcode']);
  if (plan.code !== 0 && plan.code !== 2) {
    return done('failed', { error: errorLine(plan) });
  }
  const changed = plan.code === 2;
  const summary = planSummary(plan.stdout);
  await recordDrift(config, runtime, { env, component }, { drifted: changed, ...(changed && summary ? { summary } : {}), initMillis: timing.initMillis }, clock);
  return done(changed ? 'drifted' : 'in-sync');

  /** `stateLocation` null: keep the one recorded (the run never reached the state). */
  async function failed(error: string, stateLocation: string | null = prepared?.state.location ?? null): Promise<ComponentRunResult> {
    if (mode === 'apply') {
      await recordApply(config, runtime, { env, component, result: 'failed', error, ...(stateLocation ? { stateLocation } : {}), ...(commit ? { commit } : {}), initMillis: timing.initMillis }, clock);
    }
    return done('failed', { error });
  }
}

/**
 * Refuses to run where the state is not: a deployment applied with its state in one place and now configured
 * (or defaulted) to another would plan against an empty state and create everything again. Also refuses local
 * state where it would be thrown away (CodeBuild).
 */
async function checkStateLocation(
  config: Config,
  runtime: RuntimeStore,
  env: string,
  component: string,
  state: ResolvedState,
  options: StateOptions,
): Promise<{ message: string; recorded: string | undefined } | undefined> {
  const read = parseState((await runtime.readNames([stateParamPath(config.project.parameterPrefix, env, component)]))[0]);
  const recorded = read.kind === 'ok' ? read.state.stateLocation : undefined;
  if (options.requireRemoteState && state.backend === 'local') {
    return {
      recorded,
      message: `state would be lost: this run keeps nothing after it ends (CodeBuild); set terraform.state in karma.yaml (docs/state.md) or deploy the stack with its state bucket (KARMA_STATE_BUCKET)`,
    };
  }
  if (!options.stateMoved && recorded && recorded !== state.location) {
    return {
      recorded,
      message:
        `last applied with its state at ${recorded}, but this run would use ${state.location}; configure the same backend ` +
        `(karma.yaml terraform.state, KARMA_STATE_BUCKET), or move the state there and run once with --state-moved (docs/state.md)`,
    };
  }
  return undefined;
}

/**
 * Writes the backend files into the work directory: the settings (always, mode 0600: a backend config may hold
 * credentials) and Karma's backend block unless the module declares one of the same type (config.ts refuses
 * another type). A local state left in the work directory by Karma before state had a home of its own is moved
 * there once. Returns where a state was moved from, if it was.
 */
function prepareBackend(workDir: string, state: ResolvedState, moduleDeclares: boolean): string | undefined {
  const block = join(workDir, BACKEND_BLOCK);
  if (moduleDeclares) rmSync(block, { force: true });
  else writeFileSync(block, backendBlockFile(state));
  writeFileSync(join(workDir, BACKEND_CONFIG), backendConfigFile(state), { mode: 0o600 });
  if (state.backend !== 'local') return undefined;
  const target = String(state.config['path']);
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const legacy = join(workDir, 'terraform.tfstate');
  if (!existsSync(legacy) || existsSync(target) || legacy === target) return undefined;
  try {
    renameSync(legacy, target);
  } catch {
    copyFileSync(legacy, target);
    rmSync(legacy);
  }
  return legacy;
}

export type StateOptions = Pick<ComponentRunOptions, 'stateRoot' | 'remoteState' | 'requireRemoteState' | 'stateMoved'>;

/**
 * A working copy ready for `terraform init`, for any command that runs Terraform on a deployment (apply, plan,
 * drift, destroy): the module copied, the state backend supplied, the location checked against the last
 * apply's. Throws StateLocationError when the state is not where this run would look for it.
 */
export async function prepareWorkingCopy(
  config: Config,
  runtime: RuntimeStore,
  target: { env: string; component: string; files: readonly RepoFile[]; workRoot: string },
  options: StateOptions,
  progress: Progress = silentProgress,
): Promise<{ workDir: string; state: ResolvedState; initArgs: string[] }> {
  const { env, component } = target;
  const def = config.components.get(component)!;
  const state = resolveState(config.project, env, component, { localStateRoot: options.stateRoot, ...(options.remoteState ? { remoteDefault: options.remoteState } : {}) });
  const refused = await checkStateLocation(config, runtime, env, component, state, options);
  if (refused) throw new StateLocationError(env, component, refused.message, refused.recorded);
  const workDir = join(target.workRoot, env, component);
  syncModule(target.files, def.terraform, workDir);
  const moved = prepareBackend(workDir, state, def.declaredBackend !== undefined);
  if (moved) progress.step(`${env}/${component}: moved local state from ${moved} to ${state.config['path']}`);
  return { workDir, state, initArgs: ['init', '-input=false', '-no-color', `-backend-config=${BACKEND_CONFIG}`] };
}

/** The state is not where this run would look for it (see checkStateLocation). */
export class StateLocationError extends KarmaError {
  override readonly name: string = 'StateLocationError';
  /** The message without the deployment's name. */
  readonly detail: string;
  /** Where the last apply recorded the state, if anywhere. */
  readonly recorded: string | undefined;
  constructor(env: string, component: string, detail: string, recorded: string | undefined) {
    super(`${env}/${component}: ${detail}`);
    this.detail = detail;
    this.recorded = recorded;
  }
}
