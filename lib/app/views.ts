/**
 * Read views over one live build: what `karma graph show|order|impact|why` and `karma component show` print with
 * `--json`, and what the API's GET routes return. Pure functions of a build (and its snapshot): the CLI, `karma
 * serve` and the Lambda functions call these and nothing else, so the three cannot disagree.
 *
 * Secrets: a view carries what the graph carries. SecureString and sensitive outputs have no value in the graph
 * (lib/core/graph.ts), inputs are shown as written in the config repo (a secret there is a `${ssm:...}`
 * reference, never its value), and a failed apply's error is the redacted line the state records.
 */
import { requireEnvironment } from '../core/config.ts';
import { notDeployed, UsageError } from '../core/errors.ts';
import { componentId, type Build } from '../core/graph.ts';
import { picture, toDot, toMermaid, type Picture } from '../core/graph-text.ts';
import { deploymentKey, outputParamPath } from '../core/model.ts';
import { impact, type Impact } from '../core/order.ts';
import { filterEnv, type GraphElement, type GraphSnapshot, type PropValue } from '../core/snapshot.ts';
import { STATUSES, type Status } from '../core/status.ts';
import { environmentOrderOf, whyOf, type EnvironmentOrder, type OrderMode, type Why } from './queries.ts';

/** The largest neighbourhood depth a caller may ask for (GET /graph?depth=, karma graph show --depth). */
export const MAX_DEPTH = 10;
export const DEFAULT_DEPTH = 1;

export type GraphFormat = 'json' | 'dot' | 'mermaid' | 'picture';

export interface GraphQuery {
  readonly env?: string;
  /** With env: only this component's neighbourhood, `depth` dependency hops up and down. */
  readonly component?: string;
  readonly depth?: number;
}

/** What the view of a build reflects: said by every API response (headers) and by `meta` in the graph. */
export interface Reflects {
  readonly builtAt: string;
  readonly commit: string | null;
  readonly source: string;
}

export function reflects(snapshot: GraphSnapshot): Reflects {
  return { builtAt: snapshot.meta.builtAt, commit: snapshot.meta.commit ?? null, source: snapshot.meta.source };
}

/**
 * The graph (`karma graph show --format json`): the whole of it, one environment's part, or the neighbourhood
 * of one component: the deployments within `depth` dependency hops of it (upstream and downstream, across
 * environments), with their outputs, the parameters they consume and their environments, and the edges among
 * those. An output or a parameter between two components is not a hop.
 */
export function graphView(build: Build, snapshot: GraphSnapshot, query: GraphQuery): GraphSnapshot {
  if (query.env !== undefined) requireEnvironment(build.config, query.env);
  if (query.component === undefined) {
    if (query.depth !== undefined) throw new UsageError('depth needs a component: ?env=E&component=C&depth=N (karma graph show --env E --component C --depth N)');
    return query.env === undefined ? snapshot : filterEnv(snapshot, query.env);
  }
  if (query.env === undefined) throw new UsageError('component needs env: ?env=E&component=C (karma graph show --env E --component C)');
  const depth = query.depth ?? DEFAULT_DEPTH;
  if (!Number.isInteger(depth) || depth < 0 || depth > MAX_DEPTH) throw new UsageError(`depth must be an integer from 0 to ${MAX_DEPTH}, got ${depth}`);
  requireDeployed(build, query.env, query.component);
  return neighbourhood(build, snapshot, componentId(query.env, query.component), depth);
}

function requireDeployed(build: Build, env: string, component: string): void {
  if (build.statuses.has(deploymentKey(env, component))) return;
  throw notDeployed(component, env, [...build.statuses.values()].filter((s) => s.env === env).map((s) => s.component));
}

function neighbourhood(build: Build, snapshot: GraphSnapshot, start: string, depth: number): GraphSnapshot {
  const graph = build.graph;
  const label = (id: string): string => graph.getNodeAttribute(id, 'label');
  const components = new Set([start]);
  let frontier = [start];
  // Components one hop from `id`: through DEPENDS_ON either way, or through an output it produces or consumes.
  const hop = (id: string): string[] => {
    const next: string[] = [];
    graph.forEachEdge(id, (_edge, attributes, source, target) => {
      const other = source === id ? target : source;
      if (attributes.label === 'DEPENDS_ON') next.push(other);
      else if (label(other) === 'Output') {
        graph.forEachEdge(other, (_e, a, s, t) => {
          const beyond = s === other ? t : s;
          if (beyond !== id && (a.label === 'PRODUCES' || a.label === 'CONSUMES') && label(beyond) === 'Component') next.push(beyond);
        });
      }
    });
    return next;
  };
  for (let d = 0; d < depth && frontier.length > 0; d++) {
    const found: string[] = [];
    for (const id of frontier) {
      for (const n of hop(id)) {
        if (components.has(n)) continue;
        components.add(n);
        found.push(n);
      }
    }
    frontier = found;
  }
  const keep = new Set(components);
  for (const id of components) {
    graph.forEachOutEdge(id, (_e, attributes, _source, target) => {
      // Its environment, its outputs, the outputs and parameters it consumes.
      if (attributes.label === 'IN_ENV' || attributes.label === 'PRODUCES' || attributes.label === 'CONSUMES') keep.add(target);
    });
  }
  return {
    meta: snapshot.meta,
    vertices: snapshot.vertices.filter((v) => keep.has(v.id)),
    edges: snapshot.edges.filter((e) => keep.has(e.from!) && keep.has(e.to!)),
  };
}

/** The graph as text (`?format=dot|mermaid`); the picture keeps the edges to other environments. */
export function graphText(build: Build, snapshot: GraphSnapshot, query: GraphQuery, format: 'dot' | 'mermaid'): string {
  const view = query.component === undefined ? snapshot : graphView(build, snapshot, query);
  if (query.env !== undefined) requireEnvironment(build.config, query.env);
  return format === 'dot' ? toDot(view, query.env) : toMermaid(view, query.env);
}

/**
 * The picture DOT and Mermaid are drawn from, as data (`karma graph show --format picture`, GET
 * /graph?format=picture): components with their status, the external parameters they read, one edge per
 * dependency pointing the way outputs flow, labelled with the outputs consumed. The web UI draws this.
 */
export function graphPicture(build: Build, snapshot: GraphSnapshot, query: GraphQuery): Picture {
  const view = query.component === undefined ? snapshot : graphView(build, snapshot, query);
  if (query.env !== undefined) requireEnvironment(build.config, query.env);
  return picture(view, query.env);
}

/** One environment in GET /environments: how many deployments, by status. */
export interface EnvironmentSummary {
  readonly name: string;
  readonly deployments: number;
  /** Every status, with how many of the environment's deployments have it (orphans included). */
  readonly statuses: Readonly<Record<Status, number>>;
}

/** The environments of the project (karma.yaml's order), each with its deployments counted by status. */
export function environmentsView(build: Build): { readonly project: string; readonly environments: readonly EnvironmentSummary[] } {
  const counts = new Map<string, Record<Status, number>>();
  for (const env of build.config.project.environments.keys()) counts.set(env, Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>);
  for (const status of build.statuses.values()) {
    const c = counts.get(status.env);
    if (c) c[status.status] += 1;
  }
  return {
    project: build.config.project.project,
    environments: [...counts].map(([name, statuses]) => ({ name, deployments: Object.values(statuses).reduce((a, b) => a + b, 0), statuses })),
  };
}

/** `karma graph order --env E --json`, GET /plan?env=E. */
export function planView(build: Build, env: string, mode: OrderMode = 'apply'): EnvironmentOrder {
  requireEnvironment(build.config, env);
  return environmentOrderOf(build, env, mode);
}

/** `karma graph impact C E [--output O] --json`, GET /impact?env=E&component=C[&output=O]. */
export function impactView(build: Build, env: string, component: string, output?: string): Impact {
  requireEnvironment(build.config, env);
  return impact(build, env, component, output);
}

export interface OutputView {
  readonly name: string;
  readonly path: string;
  readonly present: boolean;
  readonly version: number | null;
  /** Sensitive (sensitiveOutputs) or a SecureString: the value is never shown. */
  readonly sensitive: boolean;
  /** Null when absent or sensitive. */
  readonly value: string | null;
  /** The deployments whose inputs read it. */
  readonly consumers: readonly { readonly env: string; readonly component: string }[];
}

export interface LastApply {
  readonly appliedAt: string;
  readonly result: 'success' | 'failed';
  readonly commit: string | null;
  readonly configHash: string;
  readonly error: string | null;
  readonly drift: { readonly checkedAt: string; readonly drifted: boolean; readonly summary: string | null } | null;
}

/** `karma component show C E --json`, GET /components/{env}/{name}. */
export interface ComponentView {
  readonly env: string;
  readonly component: string;
  readonly status: Status;
  readonly reason: string;
  readonly why: Why;
  readonly description: string | null;
  /** Null for an orphan (gone from the config). */
  readonly module: string | null;
  readonly file: string | null;
  readonly configHash: string | null;
  /** The deployments it depends on and those that depend on it (`env/component`), sorted. */
  readonly dependsOn: readonly string[];
  readonly dependents: readonly string[];
  /** As written in the config repo: a secret is a `${ssm:...}` reference, never a value. */
  readonly inputs: Readonly<Record<string, unknown>> | null;
  /** The component's `inputs` JSON Schema (component.yaml), null without one: what a form to change it is made from. */
  readonly inputsSchema: Readonly<Record<string, unknown>> | null;
  readonly references: readonly { readonly at: string; readonly text: string }[];
  readonly outputs: readonly OutputView[];
  readonly lastApply: LastApply | null;
}

const text = (v: PropValue | undefined): string | null => (v === undefined ? null : String(v));

/** The config's deployments by `env/component`, made once per config (a view asked per component stays O(1)). */
const byKey = new WeakMap<Build['config'], ReadonlyMap<string, Build['config']['deployments'][number]>>();
function deploymentsByKey(config: Build['config']): ReadonlyMap<string, Build['config']['deployments'][number]> {
  let index = byKey.get(config);
  if (!index) byKey.set(config, (index = new Map(config.deployments.map((d) => [deploymentKey(d.env, d.component), d]))));
  return index;
}

export function componentView(build: Build, snapshot: GraphSnapshot, env: string, component: string): ComponentView {
  const { config } = build;
  requireEnvironment(config, env);
  requireDeployed(build, env, component);
  const status = build.statuses.get(deploymentKey(env, component))!;
  const deployment = deploymentsByKey(config).get(deploymentKey(env, component));
  const def = config.components.get(component);
  const id = componentId(env, component);
  const vertices = new Map(snapshot.vertices.map((v) => [v.id, v]));
  const dependsOn = new Set<string>();
  const dependents = new Set<string>();
  const consumersOf = new Map<string, { env: string; component: string }[]>();
  const outputVertices: GraphElement[] = [];
  const key = (vertexId: string): string => {
    const v = vertices.get(vertexId);
    return v ? deploymentKey(String(v.props['env']), String(v.props['name'])) : vertexId;
  };
  for (const e of snapshot.edges) {
    if (e.label === 'DEPENDS_ON') {
      if (e.from === id) dependsOn.add(key(e.to!));
      if (e.to === id) dependents.add(key(e.from!));
    } else if (e.label === 'PRODUCES' && e.from === id) {
      const v = vertices.get(e.to!);
      if (v) outputVertices.push(v);
    } else if (e.label === 'CONSUMES') {
      const consumer = vertices.get(e.from!);
      if (!consumer) continue;
      const list = consumersOf.get(e.to!) ?? [];
      list.push({ env: String(consumer.props['env']), component: String(consumer.props['name']) });
      consumersOf.set(e.to!, list);
    }
  }
  const sensitive = new Set(def?.sensitiveOutputs ?? []);
  const outputs = outputVertices
    .map((v): OutputView => {
      const name = String(v.props['name']);
      const hidden = sensitive.has(name) || v.props['type'] === 'SecureString';
      const consumers = (consumersOf.get(v.id) ?? []).sort((a, b) => deploymentKey(a.env, a.component).localeCompare(deploymentKey(b.env, b.component)));
      return {
        name,
        path: text(v.props['path']) ?? outputParamPath(config.project.parameterPrefix, env, component, name),
        present: v.props['present'] === true,
        version: typeof v.props['version'] === 'number' ? v.props['version'] : null,
        sensitive: hidden,
        value: hidden ? null : text(v.props['value']),
        consumers,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  const state = status.state ?? build.orphans.find((o) => o.env === env && o.component === component)?.state;
  return {
    env,
    component,
    status: status.status,
    reason: status.reason,
    why: whyOf(build, env, component),
    description: def?.description ?? null,
    module: deployment ? (def?.terraform ?? null) : null,
    file: deployment?.file ?? null,
    configHash: deployment?.configHash ?? null,
    dependsOn: [...dependsOn].sort(),
    dependents: [...dependents].sort(),
    inputs: deployment?.inputs ?? null,
    inputsSchema: def?.inputsSchema ?? null,
    references: (deployment?.references ?? []).map((r) => ({ at: r.at, text: r.text })),
    outputs,
    lastApply: state
      ? {
          appliedAt: state.appliedAt,
          result: state.result,
          commit: state.commit ?? null,
          configHash: state.configHash,
          error: state.error ?? null,
          drift: state.drift ? { checkedAt: state.drift.checkedAt, drifted: state.drift.drifted, summary: state.drift.summary ?? null } : null,
        }
      : null,
  };
}
