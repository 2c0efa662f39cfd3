/**
 * `karma rollout` (docs/rollouts.md, docs/cli.md "Rollouts"): rollouts live in a running `karma serve`, so these
 * commands talk to it (--api URL or $KARMA_API_URL), through the same client as every `karma --api` command.
 *
 *   karma rollout COMPONENT --input FILE --env dev --env prod [--approval manual] [--message M] [--wait]
 *   karma rollout show ID [--json]
 *   karma rollout approve ID [--json]
 *
 * Exit codes: 0 created (or, with --wait, succeeded); 1 failed (with --wait, or `show` of a failed rollout);
 * 2 a usage error or a refusal (unknown component or environment, approve when nothing waits).
 */
import { UsageError } from '../../core/errors.ts';
import { readInputFile } from '../../app/change.ts';
import type { RolloutRequest, RolloutView } from '../../api/service.ts';
import type { RolloutApproval } from '../../ports.ts';
import type { ApiClient } from '../api-client.ts';
import type { IO } from '../io.ts';
import { shellWord } from './audit.ts';

const seg = encodeURIComponent;

/** How often --wait asks GET /rollouts/{id} (ms). */
export const ROLLOUT_POLL_MS = 2000;

export interface RolloutCreateOptions {
  readonly component: string;
  readonly input: string;
  readonly envs: readonly string[];
  readonly approval?: RolloutApproval | undefined;
  readonly message?: string | undefined;
  readonly wait?: boolean | undefined;
  readonly json?: boolean | undefined;
  /** For tests: how long --wait waits between two looks. */
  readonly pollMs?: number;
}

/** `karma rollout …` without --api: rollouts are the service's. */
export function rolloutNeedsApi(): never {
  throw new UsageError('karma rollout talks to a running karma serve: pass --api URL (or set $KARMA_API_URL); rollouts live in the service (docs/rollouts.md)');
}

const ended = (r: RolloutView): boolean => r.status === 'succeeded' || r.status === 'failed';
const exitOf = (r: RolloutView): number => (r.status === 'failed' ? 1 : 0);

function stepLine(step: RolloutView['steps'][number]): string {
  const parts = [`${step.env}: ${step.status}`];
  if (step.change) parts.push(`change ${step.change}`);
  if (step.approvedBy) parts.push(`approved by ${step.approvedBy}`);
  const line = parts.join(', ');
  return step.reason ? `${line} (${step.reason})` : line;
}

/** The rollout as text: its status, and one line per step. */
export function printRollout(io: IO, r: RolloutView, karma: string): void {
  io.out(`rollout ${r.id}: ${r.component} to ${r.steps.map((s) => s.env).join(' → ')} (${r.approval} approval, by ${r.actor})${r.message ? `: ${r.message}` : ''}`);
  io.out(`status: ${r.status}${r.reason ? ` (${r.reason})` : ''}`);
  for (const step of r.steps) io.out(`  ${stepLine(step)}`);
  if (r.status === 'waiting-approval') {
    const waiting = r.steps.find((s) => s.status === 'waiting-approval');
    io.out(`${waiting?.env ?? 'the next step'} waits for an approval: review its plan (GET /changes/${waiting?.change ?? 'ID'}), then ${karma} rollout approve ${r.id}`);
  }
}

const karmaAt = (api: ApiClient): string => `karma --api ${shellWord(api.origin)}`;

/** Follows GET /rollouts/{id} until it ends, printing each step's transitions once; returns the last answer. */
async function follow(api: ApiClient, first: RolloutView, io: IO, options: { json?: boolean | undefined; pollMs: number }): Promise<{ rollout: RolloutView; text: string | undefined }> {
  const seen = new Map<string, string>();
  const report = (r: RolloutView): void => {
    for (const step of r.steps) {
      const line = stepLine(step);
      if (seen.get(step.env) === line) continue;
      seen.set(step.env, line);
      if (!options.json && step.status !== 'pending') io.err(line);
    }
  };
  let rollout = first;
  let text: string | undefined;
  report(rollout);
  let announced = false;
  while (!ended(rollout)) {
    if (rollout.status === 'waiting-approval' && !announced && !options.json) {
      io.err(`waiting for an approval: ${karmaAt(api)} rollout approve ${rollout.id}`);
      announced = true;
    }
    if (rollout.status !== 'waiting-approval') announced = false;
    await new Promise((resolve) => setTimeout(resolve, options.pollMs));
    const { answer, body } = await api.getJson<RolloutView>(`/rollouts/${seg(rollout.id)}`);
    rollout = body;
    text = answer.text;
    report(rollout);
  }
  return { rollout, text };
}

export async function rolloutCreate(api: ApiClient, options: RolloutCreateOptions, io: IO): Promise<number> {
  if (options.envs.length === 0) throw new UsageError('karma rollout needs at least one --env ENV (in the order to apply)');
  // The file is read here, as `karma propose-change` reads it (at most 1 MiB, a regular file, keys checked).
  const input = readInputFile(options.input);
  const request: RolloutRequest = {
    component: options.component,
    input,
    environments: options.envs,
    ...(options.approval ? { approval: options.approval } : {}),
    ...(options.message !== undefined ? { message: options.message } : {}),
  };
  const answer = await api.post('/rollouts', request);
  const created = api.parse<RolloutView>(answer, '/rollouts');
  if (!options.wait) {
    if (options.json) io.out(answer.text);
    else {
      printRollout(io, created, karmaAt(api));
      io.out(`follow it: ${karmaAt(api)} rollout show ${created.id}`);
    }
    return 0;
  }
  if (!options.json) io.err(`rollout ${created.id}: ${created.component} to ${created.steps.map((s) => s.env).join(' → ')}`);
  const { rollout, text } = await follow(api, created, io, { json: options.json, pollMs: options.pollMs ?? ROLLOUT_POLL_MS });
  if (options.json) io.out(text ?? answer.text);
  else printRollout(io, rollout, karmaAt(api));
  return exitOf(rollout);
}

export async function rolloutShow(api: ApiClient, options: { readonly id: string; readonly json?: boolean | undefined }, io: IO): Promise<number> {
  const { answer, body } = await api.getJson<RolloutView>(`/rollouts/${seg(options.id)}`);
  if (options.json) io.out(answer.text);
  else printRollout(io, body, karmaAt(api));
  return exitOf(body);
}

export async function rolloutApprove(api: ApiClient, options: { readonly id: string; readonly json?: boolean | undefined }, io: IO): Promise<number> {
  const answer = await api.post(`/rollouts/${seg(options.id)}/approve`, {});
  const body = api.parse<RolloutView>(answer, `/rollouts/${options.id}/approve`);
  if (options.json) io.out(answer.text);
  else printRollout(io, body, karmaAt(api));
  return 0;
}
