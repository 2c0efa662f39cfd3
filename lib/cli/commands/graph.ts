/**
 * `karma graph ...`: build, validate, order, impact, show, diff, why. Each is a plain async function
 * (options, io) → exit code; lib/cli/main.ts only parses arguments.
 */
import { UsageError } from '../../core/errors.ts';
import { requireEnvironment } from '../../core/config.ts';
import { componentId, type Build } from '../../core/graph.ts';
import { deploymentKey } from '../../core/model.ts';
import { planEnv, type EnvOrder, type Impact } from '../../core/order.ts';
import { allEnvironmentsOrder, environmentOrderOf, whyOf, type EnvironmentOrder, type OrderMode } from '../../app/queries.ts';
import { diffSnapshots, type GraphSnapshot } from '../../core/snapshot.ts';
import { componentView, graphPicture, graphText, graphView, impactView, type ComponentView } from '../../app/views.ts';
import { ORPHAN_ADVICE, STATUSES, type Status } from '../../core/status.ts';
import { buildFromConfig, storeBuild } from '../../app/build.ts';
import { findDeployment } from '../../app/record.ts';
import { formatWaves, formatWhy, plural, statusPaint, table } from '../format.ts';
import { palette, type IO } from '../io.ts';
import { liveBuild, makeSource, progressFor, withBackend, withConfig, type CommonOptions } from '../context.ts';
import { loadConfig } from '../../app/build.ts';
import { warnOrphans } from '../warnings.ts';

function statusRows(build: Build, env?: string): { env: string; component: string; status: Status; reason: string }[] {
  return [...build.statuses.values()]
    .filter((s) => env === undefined || s.env === env)
    .map((s) => ({ env: s.env, component: s.component, status: s.status, reason: s.reason }));
}

function counts(build: Build): Record<Status, number> {
  const byStatus = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  for (const s of build.statuses.values()) byStatus[s.status]++;
  return byStatus;
}

function printEnvironment(io: IO, build: Build, env: string, plan: EnvOrder): void {
  const p = palette(io);
  const rows = statusRows(build, env).map((r) => [r.component, statusPaint(r.status, p)(r.status), r.reason]);
  io.out(`\n${p.bold(env)}`);
  if (rows.length === 0) {
    io.out('  (no components deployed)');
    return;
  }
  io.out(
    table(['COMPONENT', 'STATUS', 'REASON'], rows, { header: p.dim })
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
  );
  io.out(`  ${p.bold('to apply')} (waves):`);
  io.out(formatWaves(plan.waves).replace(/^/gm, '  '));
  for (const s of plan.skipped) io.out(`  ${p.dim(`not applicable now: ${s.component} (${s.reason})`)}`);
  for (const s of plan.orphaned ?? []) io.out(`  ${p.yellow(`orphaned: ${s.component} (${s.reason})`)}`);
}

export async function graphBuild(options: CommonOptions, io: IO): Promise<number> {
  const progress = progressFor(io, options);
  progress.step(`reading config from ${options.config ?? '.'}`);
  const source = makeSource(options);
  const config = await loadConfig(source);
  return withBackend(config, options, { create: true, io }, async (backend) => {
    const { build, snapshot, timings } = await buildFromConfig(config, backend.runtime, { progress, source });
    warnOrphans(io, build.orphans);
    const { stats, record } = await storeBuild(backend.graph, snapshot, { progress, store: backend.description });
    const changes = record.stats ?? stats;
    const envs = [...config.project.environments.keys()];
    const plans = envs.map((env) => planEnv(build, env));
    if (options.json) {
      io.out(
        JSON.stringify({
          build: { id: record.id, builtAt: record.builtAt, commit: record.commit ?? null, source: record.source },
          counts: {
            environments: envs.length,
            components: config.components.size,
            deployments: config.deployments.length,
            vertices: snapshot.vertices.length,
            edges: snapshot.edges.length,
            statuses: counts(build),
          },
          store: stats,
          changes,
          statuses: statusRows(build),
          waves: Object.fromEntries(plans.map((pl) => [pl.env, pl.waves])),
          skipped: Object.fromEntries(plans.map((pl) => [pl.env, pl.skipped])),
          orphaned: Object.fromEntries(plans.map((pl) => [pl.env, pl.orphaned ?? []])),
          timings,
        }),
      );
      return 0;
    }
    const p = palette(io);
    io.out(`${p.bold(`karma graph build`)} — ${config.project.project} (${config.source}${record.commit ? ` @ ${record.commit.slice(0, 7)}` : ''})`);
    io.out(
      `  ${plural(envs.length, 'environment')}, ${plural(config.components.size, 'component')}, ${plural(config.deployments.length, 'deployment')} → ${plural(snapshot.vertices.length, 'vertex', 'vertices')}, ${plural(snapshot.edges.length, 'edge')}`,
    );
    const c = counts(build);
    io.out(`  statuses: ${STATUSES.filter((s) => c[s] > 0).map((s) => `${c[s]} ${s}`).join(', ')}`);
    io.out(`  store: build #${record.id}: ${changes.added} added, ${changes.updated} updated, ${changes.deleted} deleted, ${changes.unchanged} unchanged (${backend.description})`);
    const wrote = stats.added + stats.updated + stats.deleted;
    if (wrote !== changes.added + changes.updated + changes.deleted) {
      io.out(`  (since the previous build, something wrote the graph without recording it; this build wrote ${wrote} element${wrote === 1 ? '' : 's'})`);
    }
    envs.forEach((env, i) => printEnvironment(io, build, env, plans[i]!));
    return 0;
  });
}

export async function graphValidate(options: CommonOptions, io: IO): Promise<number> {
  const config = await withConfig(options);
  if (options.json) {
    io.out(JSON.stringify({ valid: true, environments: config.project.environments.size, components: config.components.size, deployments: config.deployments.length }));
  } else {
    io.out(`valid: ${plural(config.project.environments.size, 'environment')}, ${plural(config.components.size, 'component')}, ${plural(config.deployments.length, 'deployment')}`);
  }
  return 0;
}

export async function graphOrder(options: CommonOptions & { env?: string; all?: boolean; destroy?: boolean }, io: IO): Promise<number> {
  const { config, result } = await liveBuild(options, io);
  const mode: OrderMode = options.destroy ? 'destroy' : options.all ? 'all' : 'apply';
  if (options.env !== undefined) requireEnvironment(config, options.env);
  const orders = options.env === undefined ? allEnvironmentsOrder(result.build, mode).environments : [environmentOrderOf(result.build, options.env, mode)];
  if (options.json) {
    io.out(JSON.stringify(options.env === undefined ? { environments: orders } : orders[0]));
    return 0;
  }
  for (const order of orders) printOrder(io, order, mode);
  return 0;
}

/** One environment's waves as `karma graph order` prints them (also for GET /plan's answer, with --api). */
export function printOrder(io: IO, order: EnvironmentOrder, mode: OrderMode): void {
  const what = mode === 'destroy' ? 'destroy order' : mode === 'all' ? 'apply order (all components)' : 'to apply';
  io.out(`${order.env}: ${what}`);
  io.out(formatWaves(order.waves));
  for (const s of order.skipped ?? []) io.out(`  not applicable now: ${s.component} (${s.reason})`);
  for (const s of order.orphaned) io.out(`  orphaned: ${s.component} (${s.reason}); ${ORPHAN_ADVICE(s.component, order.env)}`);
}

export async function graphImpact(options: CommonOptions & { component: string; env: string; output?: string }, io: IO): Promise<number> {
  const { result } = await liveBuild(options, io);
  const im = impactView(result.build, options.env, options.component, options.output);
  if (options.json) {
    io.out(JSON.stringify(im));
    return 0;
  }
  printImpact(io, im);
  return 0;
}

/** `karma graph impact`'s text (also for GET /impact's answer, with --api). */
export function printImpact(io: IO, im: Impact): void {
  const subject = im.output ? `${im.component}.${im.output}` : im.component;
  io.out(`${im.env}: impact of ${subject}`);
  io.out(formatWaves(im.waves));
  for (const other of im.otherEnvironments) {
    io.out(`${other.env} (through cross-environment references):`);
    io.out(formatWaves(other.waves));
  }
}

export async function graphWhy(options: CommonOptions & { component: string; env: string }, io: IO): Promise<number> {
  const { config, result } = await liveBuild(options, io);
  const orphan = result.build.orphans.find((o) => o.env === options.env && o.component === options.component);
  if (!orphan) findDeployment(config, options.env, options.component);
  const why = whyOf(result.build, options.env, options.component);
  if (options.json) {
    io.out(JSON.stringify({ ...why, ...(orphan ? { removal: orphan.removal ?? null } : {}) }));
    return 0;
  }
  io.out(formatWhy(why).join('\n'));
  return 0;
}

export type ShowFormat = 'table' | 'json' | 'dot' | 'mermaid' | 'picture';

export async function graphShow(options: CommonOptions & { env?: string; component?: string; depth?: number; format?: ShowFormat }, io: IO): Promise<number> {
  const format = options.format ?? (options.json ? 'json' : 'table');
  const { result } = await liveBuild(options, io);
  const query = { ...(options.env !== undefined ? { env: options.env } : {}), ...(options.component !== undefined ? { component: options.component } : {}), ...(options.depth !== undefined ? { depth: options.depth } : {}) };
  // The same view GET /graph returns (lib/app/views.ts): checks the names, the depth, and cuts the neighbourhood.
  const view = graphView(result.build, result.snapshot, query);
  switch (format) {
    case 'json':
      io.out(JSON.stringify(view));
      return 0;
    // The pictures keep the edges to and from other environments: they take the whole graph and the env.
    case 'dot':
    case 'mermaid':
      io.out(graphText(result.build, result.snapshot, query, format));
      return 0;
    // The picture as JSON: what the web UI draws.
    case 'picture':
      io.out(JSON.stringify(graphPicture(result.build, result.snapshot, query)));
      return 0;
    case 'table': {
      const shown = options.component === undefined ? undefined : new Set(view.vertices.filter((v) => v.label === 'Component').map((v) => v.id));
      const rows = statusRows(result.build, options.env).filter((r) => !shown || shown.has(componentId(r.env, r.component))).map((r) => {
        const dependsOn = result.build.graph
          .outEdges(componentId(r.env, r.component))
          .filter((e) => result.build.graph.getEdgeAttribute(e, 'label') === 'DEPENDS_ON')
          .map((e) => result.build.graph.target(e));
        return { ...r, dependsOn };
      });
      printGraphTable(io, rows);
      return 0;
    }
    default:
      throw new UsageError(`--format ${String(format)}: use table, json, dot, mermaid or picture`);
  }
}

/** One row of `karma graph show`'s table; `dependsOn` are component vertex ids (`component:<env>:<name>`). */
export interface GraphTableRow {
  readonly env: string;
  readonly component: string;
  readonly status: Status;
  readonly reason: string;
  readonly dependsOn: readonly string[];
}

/** `karma graph show`'s table: a dependency in the row's environment by name, one in another as env/name. */
export function printGraphTable(io: IO, rows: readonly GraphTableRow[]): void {
  const p = palette(io);
  const cells = rows.map((r) => {
    const deps = r.dependsOn
      .map((id) => {
        const target = id.split(':');
        return target[1] === r.env ? target[2]! : deploymentKey(target[1]!, target[2]!);
      })
      .sort();
    return [r.env, r.component, statusPaint(r.status, p)(r.status), deps.join(', ') || '-', r.reason];
  });
  io.out(table(['ENV', 'COMPONENT', 'STATUS', 'DEPENDS ON', 'REASON'], cells, { header: p.dim }));
}

/** The table's rows from a graph as GET /graph returns it (its component vertices and DEPENDS_ON edges). */
export function graphTableRows(graph: GraphSnapshot, keep: (env: string, component: string) => boolean = () => true): GraphTableRow[] {
  const dependsOn = new Map<string, string[]>();
  for (const e of graph.edges) if (e.label === 'DEPENDS_ON' && e.from && e.to) dependsOn.set(e.from, [...(dependsOn.get(e.from) ?? []), e.to]);
  return graph.vertices
    .filter((v) => v.label === 'Component' && keep(String(v.props['env']), String(v.props['name'])))
    .map((v) => ({ env: String(v.props['env']), component: String(v.props['name']), status: v.props['status'] as Status, reason: String(v.props['reason'] ?? ''), dependsOn: dependsOn.get(v.id) ?? [] }));
}

/** `karma component show COMPONENT ENV`: the view GET /components/{env}/{name} returns. */
export async function componentShow(options: CommonOptions & { component: string; env: string }, io: IO): Promise<number> {
  const { result } = await liveBuild(options, io);
  const view = componentView(result.build, result.snapshot, options.env, options.component);
  if (options.json) {
    io.out(JSON.stringify(view));
    return 0;
  }
  printComponent(io, view);
  return 0;
}

/** `karma component show`'s text (also for GET /components/{env}/{name}'s answer, with --api). */
export function printComponent(io: IO, view: ComponentView): void {
  const p = palette(io);
  io.out(`${p.bold(`${view.component} in ${view.env}`)}: ${statusPaint(view.status, p)(view.status)}${view.reason ? ` (${view.reason})` : ''}`);
  if (view.description) io.out(`  ${view.description}`);
  if (view.module) io.out(`  module: ${view.module}   file: ${view.file}`);
  io.out(`  depends on: ${view.dependsOn.join(', ') || '-'}`);
  io.out(`  dependents: ${view.dependents.join(', ') || '-'}`);
  if (view.status !== 'in-sync') io.out(formatWhy(view.why).map((l) => `  ${l}`).join('\n'));
  if (view.inputs) {
    io.out('  inputs (as written; secrets are references):');
    for (const [k, v] of Object.entries(view.inputs)) io.out(`    ${k} = ${JSON.stringify(v)}`);
  }
  if (view.outputs.length > 0) {
    io.out('  outputs:');
    io.out(
      table(
        ['OUTPUT', 'VERSION', 'VALUE', 'CONSUMED BY'],
        view.outputs.map((o) => [o.name, o.version === null ? '-' : `v${o.version}`, o.sensitive ? '(sensitive)' : o.present ? (o.value ?? '') : '(missing)', o.consumers.map((c) => deploymentKey(c.env, c.component)).join(', ') || '-']),
      ).replace(/^/gm, '    '),
    );
  }
  const last = view.lastApply;
  io.out(last ? `  last apply: ${last.result} at ${last.appliedAt}${last.commit ? ` (commit ${last.commit.slice(0, 8)})` : ''}${last.error ? `: ${last.error}` : ''}` : '  last apply: never');
}

export async function graphDiff(options: CommonOptions & { from?: string; to?: string }, io: IO): Promise<number> {
  const config = await withConfig(options);
  return withBackend(config, options, { create: false, io }, async (backend) => {
    const builds = await backend.graph.listBuilds(2);
    const toId = options.to ?? builds[0]?.id;
    const fromId = options.from ?? (options.to === undefined ? builds[1]?.id : undefined);
    if (!toId || !fromId) {
      throw new UsageError('graph diff needs two builds: run `karma graph build` twice, or name them (`karma graph diff 3 5`; see `karma graph history`)');
    }
    const load = async (id: string): Promise<GraphSnapshot> => {
      const s = await backend.graph.readBuild(id);
      if (!s) throw new UsageError(`no build #${id} in the ${backend.description}; list them with \`karma graph history\``);
      return s;
    };
    const diff = diffSnapshots(await load(fromId), await load(toId));
    if (options.json) {
      io.out(JSON.stringify({ from: fromId, to: toId, added: diff.added.map((e) => e.id), removed: diff.removed.map((e) => e.id), changed: diff.changed, unchanged: diff.unchanged }));
      return 0;
    }
    const p = palette(io);
    io.out(`build #${fromId} → #${toId}: ${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed, ${diff.unchanged} unchanged`);
    for (const e of diff.added) io.out(p.green(`+ ${e.id}`));
    for (const e of diff.removed) io.out(p.red(`- ${e.id}`));
    for (const c of diff.changed) {
      io.out(p.yellow(`~ ${c.id}`));
      for (const [k, v] of Object.entries(c.changed)) io.out(`    ${k}: ${JSON.stringify(v.before) ?? '(none)'} → ${JSON.stringify(v.after) ?? '(none)'}`);
    }
    return 0;
  });
}

export async function graphHistory(options: CommonOptions & { limit?: number }, io: IO): Promise<number> {
  const config = await withConfig(options);
  return withBackend(config, options, { create: false, io }, async (backend) => {
    const builds = await backend.graph.listBuilds(options.limit ?? 20);
    if (options.json) {
      io.out(JSON.stringify({ builds }));
      return 0;
    }
    io.out(
      table(
        ['BUILD', 'BUILT AT', 'BY', 'COMMIT', 'VERTICES', 'EDGES', 'CHANGES'],
        builds.map((b) => [
          `#${b.id}`,
          b.builtAt,
          b.trigger ?? 'graph build',
          b.commit?.slice(0, 7) ?? '-',
          String(b.vertices),
          String(b.edges),
          b.stats ? `+${b.stats.added} ~${b.stats.updated} -${b.stats.deleted}` : '-',
        ]),
      ),
    );
    return 0;
  });
}
