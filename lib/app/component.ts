/**
 * The Terraform work of ONE component, as one command (`karma component apply|plan|drift COMPONENT ENV`):
 * resolve inputs (secrets included) → a var file → terraform init → apply (or plan -detailed-exitcode) →
 * terraform output -json → outputs and state in the runtime store. CodeBuild's buildspec runs exactly this
 * command, and so does the local pipeline runner.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { KarmaError } from '../core/errors.ts';
import { outputParamPath, stateParamPath, type Config, type RepoFile } from '../core/model.ts';
import { resolveReferences } from '../core/references.ts';
import { decodeOutput, parseState } from '../core/runtime.ts';
import type { Clock, Progress, RuntimeStore } from '../ports.ts';
import { silentProgress, systemClock } from '../ports.ts';
import { terraformErrorLine, type TerraformRunner } from '../adapters/terraform/runner.ts';
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
}

export class InputResolutionError extends KarmaError {}

const VAR_FILE = 'karma.tfvars.json';
const MANIFEST = '.karma-module-files.json';
const NOT_MODULE = /(^|\/)(\.terraform\/|terraform\.tfstate|\.terraform\.tfstate)/;

/**
 * Resolves the component's inputs against the runtime: the values Terraform receives, secrets included, and
 * the list of secret values among them (SecureString parameters, outputs their producer marks sensitive) so
 * they can be kept out of every log.
 */
export async function resolveInputs(
  config: Config,
  runtime: RuntimeStore,
  env: string,
  component: string,
): Promise<{ inputs: Record<string, unknown>; secrets: string[] }> {
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
  const secrets: string[] = [];
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
      secrets.push(p.value, ...(typeof value === 'string' ? [value] : []));
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
  /** Where per-component Terraform working directories live (state stays there between runs). */
  readonly workRoot: string;
  readonly runner: TerraformRunner;
  readonly commit?: string;
  readonly clock?: Clock;
  readonly progress?: Progress;
}

export async function runComponent(config: Config, runtime: RuntimeStore, options: ComponentRunOptions): Promise<ComponentRunResult> {
  const started = performance.now();
  const clock = options.clock ?? systemClock;
  const progress = options.progress ?? silentProgress;
  const { env, component, mode } = options;
  const d = findDeployment(config, env, component);
  const def = config.components.get(d.component)!;
  const done = (outcome: ComponentOutcome, extra: { error?: string; changedOutputs?: string[] } = {}): ComponentRunResult => ({
    env,
    component,
    mode,
    outcome,
    ...extra,
    millis: Math.round(performance.now() - started),
  });

  const { inputs, secrets } = await resolveInputs(config, runtime, env, component);
  const workDir = join(options.workRoot, env, component);
  syncModule(options.files, def.terraform, workDir);
  const log = join(workDir, `${mode}.log`);
  rmSync(log, { force: true });
  const varFile = join(workDir, VAR_FILE);
  writeFileSync(varFile, JSON.stringify(inputs, null, 2), { mode: 0o600 });
  chmodSync(varFile, 0o600);
  const commit = options.commit ?? config.commit;
  const tf = (args: string[], logStdout = true) => options.runner.run(args, { cwd: workDir, log, redact: secrets, logStdout });
  try {
    progress.step(`${env}/${component}: terraform init`);
    const init = await tf(['init', '-input=false', '-no-color']);
    if (init.code !== 0) return await failed(terraformErrorLine(init));

    if (mode === 'apply') {
      progress.step(`${env}/${component}: terraform apply`);
      const apply = await tf(['apply', '-input=false', '-auto-approve', '-no-color', `-var-file=${VAR_FILE}`]);
      if (apply.code !== 0) return await failed(terraformErrorLine(apply));
      const out = await tf(['output', '-json', '-no-color'], false);
      if (out.code !== 0) return await failed(terraformErrorLine(out));
      const raw = JSON.parse(out.stdout) as Record<string, { value: unknown }>;
      const outputs: Record<string, unknown> = {};
      for (const name of def.outputs) if (name in raw) outputs[name] = raw[name]!.value;
      const paths = def.outputs.map((o) => outputParamPath(config.project.parameterPrefix, env, component, o));
      const before = new Map((await runtime.readNames(paths)).map((p) => [p.name, p.version]));
      await recordApply(config, runtime, { env, component, result: 'success', outputs, ...(commit ? { commit } : {}) }, clock);
      const after = await runtime.readNames(paths);
      const changedOutputs = after.filter((p) => before.get(p.name) !== p.version).map((p) => posix.basename(p.name));
      return done('applied', { changedOutputs });
    }

    progress.step(`${env}/${component}: terraform plan`);
    const plan = await tf(['plan', '-input=false', '-no-color', '-detailed-exitcode', `-var-file=${VAR_FILE}`]);
    if (plan.code !== 0 && plan.code !== 2) {
      return done('failed', { error: terraformErrorLine(plan) });
    }
    const changed = plan.code === 2;
    if (mode === 'plan') return done(changed ? 'changes' : 'no-changes');
    const summary = planSummary(plan.stdout);
    await recordDrift(config, runtime, { env, component }, { drifted: changed, ...(changed && summary ? { summary } : {}) }, clock);
    return done(changed ? 'drifted' : 'in-sync');
  } finally {
    rmSync(varFile, { force: true });
  }

  async function failed(error: string): Promise<ComponentRunResult> {
    if (mode === 'apply') await recordApply(config, runtime, { env, component, result: 'failed', error, ...(commit ? { commit } : {}) }, clock);
    return done('failed', { error });
  }
}
