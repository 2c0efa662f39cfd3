/**
 * The commands that have a route twin, run against a Karma API (`karma --api URL …`, docs/cli.md "Calling a Karma
 * API (--api)"). Each calls its route and prints what the local command prints: with --json, the response body
 * exactly (the route returns what the command prints with --json); without, the same text printers.
 */
import { UsageError } from '../../core/errors.ts';
import { destructive } from '../../core/plan.ts';
import type { Impact } from '../../core/order.ts';
import type { GraphSnapshot } from '../../core/snapshot.ts';
import type { EnvironmentOrder, OrderMode } from '../../app/queries.ts';
import type { ComponentView } from '../../app/views.ts';
import type { AuditPage } from '../../app/audit.ts';
import type { ExecutionView } from '../../app/workspace.ts';
import type { Change, RequestedChange } from '../../app/changes.ts';
import { readInputFile } from '../../app/change.ts';
import type { ApiClient } from '../api-client.ts';
import { formatWhy, table } from '../format.ts';
import type { IO } from '../io.ts';
import { graphTableRows, printComponent, printGraphTable, printImpact, printOrder, type ShowFormat } from './graph.ts';
import { decide, printProposed, showPlan } from './change.ts';
import { printAuditPage, shellWord } from './audit.ts';
import { executionExitCode, printExecution } from './pipeline.ts';

interface Json {
  readonly json?: boolean | undefined;
}

const seg = encodeURIComponent;

/** The command line that reaches the same API (for the hints a command prints): never the token. */
const karmaAt = (api: ApiClient): string => `karma --api ${shellWord(api.origin)}`;

export async function remoteGraphOrder(api: ApiClient, options: Json & { env?: string | undefined; all?: boolean | undefined; destroy?: boolean | undefined }, io: IO): Promise<number> {
  // The API plans one environment a call (GET /plan?env=E); the order of every environment needs the whole build.
  if (options.env === undefined) throw new UsageError('karma graph order --api needs --env ENV: the API plans one environment a call (GET /plan?env=ENV)');
  const mode: OrderMode = options.destroy ? 'destroy' : options.all ? 'all' : 'apply';
  const { answer, body } = await api.getJson<EnvironmentOrder>('/plan', { env: options.env, ...(mode !== 'apply' ? { mode } : {}) });
  if (options.json) io.out(answer.text);
  else printOrder(io, body, mode);
  return 0;
}

export async function remoteGraphShow(api: ApiClient, options: Json & { env?: string | undefined; component?: string | undefined; depth?: number | undefined; format?: ShowFormat | undefined }, io: IO): Promise<number> {
  const format = options.format ?? (options.json ? 'json' : 'table');
  const query = { env: options.env, component: options.component, depth: options.depth };
  if (format === 'json' || format === 'dot' || format === 'mermaid' || format === 'picture') {
    const answer = await api.get('/graph', { ...query, ...(format !== 'json' ? { format } : {}) });
    io.out(answer.text);
    return 0;
  }
  // The table: the rows of the part asked for, with every dependency (also those outside a neighbourhood).
  const everything = options.env === undefined && options.component === undefined && options.depth === undefined;
  const { body: part } = await api.getJson<GraphSnapshot>('/graph', query);
  const whole = everything ? part : (await api.getJson<GraphSnapshot>('/graph')).body;
  const shown = new Set(graphTableRows(part).map((r) => `${r.env}/${r.component}`));
  printGraphTable(io, graphTableRows(whole, (env, component) => shown.has(`${env}/${component}`)));
  return 0;
}

export async function remoteGraphImpact(api: ApiClient, options: Json & { component: string; env: string; output?: string | undefined }, io: IO): Promise<number> {
  const { answer, body } = await api.getJson<Impact>('/impact', { env: options.env, component: options.component, output: options.output });
  if (options.json) io.out(answer.text);
  else printImpact(io, body);
  return 0;
}

async function component(api: ApiClient, env: string, name: string): Promise<{ text: string; view: ComponentView }> {
  const { answer, body } = await api.getJson<ComponentView>(`/components/${seg(env)}/${seg(name)}`);
  return { text: answer.text, view: body };
}

/** `graph why` is the `why` of GET /components/{env}/{name} (a deployment in the config; an orphan has none there). */
export async function remoteGraphWhy(api: ApiClient, options: Json & { component: string; env: string }, io: IO): Promise<number> {
  const { view } = await component(api, options.env, options.component);
  if (options.json) io.out(JSON.stringify(view.why));
  else io.out(formatWhy(view.why).join('\n'));
  return 0;
}

export async function remoteComponentShow(api: ApiClient, options: Json & { component: string; env: string }, io: IO): Promise<number> {
  const { text, view } = await component(api, options.env, options.component);
  if (options.json) io.out(text);
  else printComponent(io, view);
  return 0;
}

export async function remoteProposeChange(
  api: ApiClient,
  options: Json & { component: string; env: string; input: string; message?: string | undefined; dryRun?: boolean | undefined; plan?: boolean | undefined },
  io: IO,
): Promise<number> {
  // The file is read here, as `karma propose-change` reads it (at most 1 MiB, a regular file, keys checked).
  const input = readInputFile(options.input);
  const answer = await api.post('/request-change', {
    component: options.component,
    env: options.env,
    input,
    ...(options.message !== undefined ? { message: options.message } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.plan === false ? { plan: false } : {}),
  });
  const proposed = api.parse<RequestedChange>(answer, '/request-change');
  if (options.json) io.out(answer.text);
  else printProposed(io, proposed, { karma: karmaAt(api) });
  return proposed.plan?.status === 'failed' ? 1 : 0;
}

/** The open changes: those whose proposal branch is still there (GET /changes, its largest page). */
async function openChanges(api: ApiClient): Promise<Change[]> {
  const { body } = await api.getJson<{ changes: Change[] }>('/changes', { limit: 200 });
  return body.changes.filter((c) => c.open);
}

export async function remoteProposals(api: ApiClient, options: Json, io: IO): Promise<number> {
  const open = await openChanges(api);
  if (options.json) {
    io.out(JSON.stringify({ changes: open }));
    return 0;
  }
  if (open.length === 0) {
    io.out('no open proposals');
    return 0;
  }
  io.out(table(['ID', 'COMPONENT', 'ENV', 'STATUS', 'BASE', 'CREATED', 'MESSAGE'], open.map((c) => [c.id, c.component, c.env, c.status, c.base?.slice(0, 8) ?? '-', c.createdAt, c.message ?? ''])));
  return 0;
}

/**
 * `karma --api URL apply ID`: the change's saved plan (GET /changes/{id}) shown, the decision taken here (a
 * "yes" at the terminal, or --yes), then POST /changes/{id}/apply. The API answers at once (202): the apply runs
 * on the server.
 */
export async function remoteApply(
  api: ApiClient,
  options: Json & { proposal?: string | undefined; env?: string | undefined; yes?: boolean | undefined; allowDestroy?: boolean | undefined; includePending?: boolean | undefined },
  io: IO,
): Promise<number> {
  let id = options.proposal;
  if (id === undefined) {
    if (options.env !== undefined) throw new UsageError('karma apply --env ENV has no API route (the API applies changes: POST /changes/{id}/apply); run it where the config is');
    const open = await openChanges(api);
    if (open.length === 0) throw new UsageError(`no open proposals to apply (${karmaAt(api)} propose-change records one)`);
    if (open.length > 1) {
      if (!options.json) io.out(table(['ID', 'COMPONENT', 'ENV', 'CREATED', 'MESSAGE'], open.map((c) => [c.id, c.component, c.env, c.createdAt, c.message ?? ''])));
      throw new UsageError(`${open.length} open proposals (${open.map((c) => c.id).join(', ')}); name the one to apply: ${karmaAt(api)} apply ID`);
    }
    id = open[0]!.id;
  }
  const { body: change } = await api.getJson<Change>(`/changes/${seg(id)}`);
  if (options.env && options.env !== change.env && !options.json) io.err(`karma: warning: --env ${options.env} ignored: proposal ${change.id} changes ${change.env}`);
  if (!change.open) throw new UsageError(`change ${change.id} is ${change.status}${change.reason ? ` (${change.reason})` : ''}: its proposal is closed, there is nothing to apply`);
  const plan = change.plan;
  if (plan?.status !== 'planned') {
    const why = plan === null ? 'it was recorded without one' : plan.status === 'skipped' ? plan.reason : `its plan failed: ${plan.error}`;
    throw new UsageError(`change ${change.id} has no saved plan to decide on (${why}); plan it where the config is: karma plan ${change.id}`);
  }
  if (!options.json) showPlan(io, { component: change.component, env: change.env, commit: plan.commit, plannedAt: plan.plannedAt, expiresAt: plan.expiresAt, plan }, false);
  const gone = destructive(plan);
  if (gone.length > 0 && !options.allowDestroy) {
    throw new UsageError(`the plan for ${change.id} destroys or replaces ${gone.map((r) => `${r.address} (${r.action})`).join(', ')}; run again with --allow-destroy to accept that`);
  }
  if (!(await decide(io, options, `the plan for ${change.component} in ${change.env} (${change.id})`))) {
    io.err('karma: not applied (only "yes" is accepted); the plan stays saved until it expires');
    return 1;
  }
  const answer = await api.post(`/changes/${seg(change.id)}/apply`, { ...(options.allowDestroy ? { allowDestroy: true } : {}), ...(options.includePending ? { includePending: true } : {}) });
  if (options.json) {
    io.out(answer.text);
    return 0;
  }
  const started = api.parse<{ change: Change; execution: string | null }>(answer, `/changes/${change.id}/apply`);
  io.out(`apply of ${change.id} accepted by ${api.origin}: ${started.change.status}${started.execution ? `; pipeline run ${started.execution}` : ''}`);
  io.out(`follow it: ${karmaAt(api)} audit --change ${change.id}${started.execution ? ` (or ${karmaAt(api)} pipeline status ${shellWord(started.execution)})` : ''}`);
  return 0;
}

export async function remoteAudit(api: ApiClient, options: Json & { change?: string | undefined; limit?: number | undefined; after?: string | undefined }, io: IO): Promise<number> {
  const { answer, body } = await api.getJson<AuditPage>('/audit', { limit: options.limit, after: options.after, change: options.change });
  if (options.json) io.out(answer.text);
  else printAuditPage(io, body, options, [karmaAt(api), 'audit']);
  return 0;
}

export async function remotePipelineStatus(api: ApiClient, options: Json & { execution: string; follow?: boolean | undefined; intervalMs?: number }, io: IO): Promise<number> {
  const path = `/executions/${seg(options.execution)}`;
  let { answer, body } = await api.getJson<ExecutionView>(path);
  while (options.follow && body.status === 'RUNNING') {
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 5000));
    ({ answer, body } = await api.getJson<ExecutionView>(path));
  }
  if (options.json) {
    io.out(answer.text);
    return executionExitCode(body.status, body.summary);
  }
  return printExecution(io, body);
}
