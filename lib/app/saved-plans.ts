/**
 * Saved plans of proposals (docs/workflow.md): `karma propose-change` (and `karma plan ID`) runs `terraform plan
 * -out` for the proposal's deployment against the proposal's commit and keeps the plan under the store folder:
 *
 *   <store>/plans/<proposal-id>/<env>/<component>.tfplan   the saved plan, mode 0600 (it holds every variable's value)
 *   <store>/plans/<proposal-id>/plan.json                  what it was planned against, and its summary
 *
 * `karma apply ID` applies exactly that file, or refuses: the plan expired (KARMA_PLAN_TTL, default 24 h), the
 * proposal's commit or the deployment's config differ, the resolved inputs moved, or Terraform finds the state
 * changed since ("Saved plan is stale"). The folder is deleted after an apply, a refusal and on expiry.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDuration } from '../core/duration.ts';
import { UsageError } from '../core/errors.ts';
import type { Config, RepoFile } from '../core/model.ts';
import type { PlanSummary } from '../core/plan.ts';
import type { Clock, RuntimeStore } from '../ports.ts';
import { systemClock } from '../ports.ts';
import { findDeployment } from './record.ts';
import { runComponent, type ComponentRunOptions, type ComponentRunResult } from './component.ts';

export const DEFAULT_PLAN_TTL_SECONDS = 24 * 3600;
const RECORD = 'plan.json';

/** KARMA_PLAN_TTL: seconds or a duration (`90m`, `24h`, `2d`); default 24 h. */
export function planTtlSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['KARMA_PLAN_TTL'];
  if (raw === undefined || raw === '') return DEFAULT_PLAN_TTL_SECONDS;
  const seconds = parseDuration(raw);
  if (seconds === undefined) throw new UsageError(`KARMA_PLAN_TTL must be a number of seconds or a duration like 90m, 24h or 2d, got "${raw}"`);
  return seconds;
}

export interface SavedPlan {
  readonly proposal: string;
  readonly env: string;
  readonly component: string;
  /** The proposal's commit: the config planned. */
  readonly commit: string;
  /** The deployment's config hash at that commit (component definition, module, inputs as written). */
  readonly configHash: string;
  /** The salted hash of the resolved inputs (upstream outputs and parameters included) the plan was made with. */
  readonly inputsHash: string;
  /** Its random salt (this file is 0600, like the plan that holds the values themselves). */
  readonly inputsSalt: string;
  readonly plannedAt: string;
  readonly expiresAt: string;
  readonly plan: PlanSummary;
  /** Terraform's plan text, redacted (what -v shows). */
  readonly text: string;
}

const folder = (storeDir: string, id: string): string => join(storeDir, 'plans', id);
export const planFilePath = (storeDir: string, saved: Pick<SavedPlan, 'proposal' | 'env' | 'component'>): string =>
  join(folder(storeDir, saved.proposal), saved.env, `${saved.component}.tfplan`);

export function removeSavedPlan(storeDir: string, id: string): void {
  rmSync(folder(storeDir, id), { recursive: true, force: true });
}

export type SavedPlanRead = { kind: 'none' } | { kind: 'expired'; saved: SavedPlan } | { kind: 'ok'; saved: SavedPlan; file: string };

/** The proposal's saved plan; an expired one is deleted as it is read. */
export function readSavedPlan(storeDir: string, id: string, clock: Clock = systemClock): SavedPlanRead {
  let saved: SavedPlan;
  try {
    saved = JSON.parse(readFileSync(join(folder(storeDir, id), RECORD), 'utf8')) as SavedPlan;
  } catch {
    return { kind: 'none' };
  }
  const file = planFilePath(storeDir, saved);
  if (!existsSync(file)) return { kind: 'none' };
  if (Date.parse(saved.expiresAt) <= clock.now().getTime()) {
    removeSavedPlan(storeDir, id);
    return { kind: 'expired', saved };
  }
  return { kind: 'ok', saved, file };
}

/** Deletes expired saved plans, and those of proposals no longer open (`open`: the open proposal ids). */
export function sweepSavedPlans(storeDir: string, open: ReadonlySet<string>, clock: Clock = systemClock): void {
  const root = join(storeDir, 'plans');
  if (!existsSync(root)) return;
  for (const id of readdirSync(root)) {
    if (!open.has(id)) removeSavedPlan(storeDir, id);
    else readSavedPlan(storeDir, id, clock);
  }
}

export interface PlanProposalOptions extends Omit<ComponentRunOptions, 'mode' | 'env' | 'component' | 'planOut' | 'savedPlan' | 'commit'> {
  readonly storeDir: string;
  readonly ttlSeconds?: number;
}

/**
 * Plans the proposal's deployment with the config at its commit and saves the plan (replacing an earlier one).
 * A failed plan leaves nothing saved.
 */
export async function planProposal(
  config: Config,
  runtime: RuntimeStore,
  proposal: { id: string; commit: string; env: string; component: string },
  options: PlanProposalOptions & { files: readonly RepoFile[] },
): Promise<{ result: ComponentRunResult; saved?: SavedPlan; file?: string }> {
  const clock = options.clock ?? systemClock;
  removeSavedPlan(options.storeDir, proposal.id);
  const target = { proposal: proposal.id, env: proposal.env, component: proposal.component };
  const file = planFilePath(options.storeDir, target);
  mkdirSync(join(options.storeDir, 'plans'), { recursive: true, mode: 0o700 });
  mkdirSync(join(folder(options.storeDir, proposal.id), proposal.env), { recursive: true, mode: 0o700 });
  const { storeDir: _s, ttlSeconds, ...run } = options;
  const inputsSalt = randomBytes(32).toString('hex');
  const result = await runComponent(config, runtime, { ...run, env: proposal.env, component: proposal.component, mode: 'plan', planOut: file, inputsSalt, commit: proposal.commit });
  if (result.outcome === 'failed' || !result.plan || !result.inputsHash) {
    removeSavedPlan(options.storeDir, proposal.id);
    return { result };
  }
  const now = clock.now();
  const saved: SavedPlan = {
    ...target,
    commit: proposal.commit,
    configHash: findDeployment(config, proposal.env, proposal.component).configHash,
    inputsHash: result.inputsHash,
    inputsSalt,
    plannedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 1000 * (ttlSeconds ?? DEFAULT_PLAN_TTL_SECONDS)).toISOString(),
    plan: result.plan,
    text: result.planText ?? '',
  };
  writeFileSync(join(folder(options.storeDir, proposal.id), RECORD), JSON.stringify(saved, null, 2), { mode: 0o600 });
  return { result, saved, file };
}
