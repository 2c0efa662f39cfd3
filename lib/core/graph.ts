/**
 * Config + runtime → the live dependency graph (graphology), in the schema every store shares:
 *
 *   vertices  env:<env>                         Environment
 *             component:<env>:<name>            Component  (status, reason, hashes, last apply)
 *             output:<env>:<component>:<name>   Output     (version, value hash; the value only if not secret)
 *             param:<path>                      Parameter  (external ${ssm:...}: version and hash, never the value)
 *   edges     IN_ENV      component → env
 *             DEPENDS_ON  component → component it depends on (dependsOn and/or output references)
 *             PRODUCES    component → output
 *             CONSUMES    component → output | param
 *
 * A deployment gone from the config whose runtime record remains (orphans.ts) is a Component vertex with status
 * `orphaned`, its IN_ENV edge and its leftover Output vertices (version and type only: whether an output was
 * secret is no longer known, so no value and no hash).
 *
 * Edge ids are `<LABEL>:<from>-><to>`. Every element carries a content hash of its label, ends and props.
 */
import { DirectedGraph } from 'graphology';
import { configFingerprint } from './config.ts';
import { sha256 } from './hash.ts';
import { deploymentKey, outputParamPath, type ComponentDef, type Config, type Deployment } from './model.ts';
import type { Parameter, RuntimeSnapshot } from './runtime.ts';
import type { BuildMeta, GraphElement, GraphSnapshot, PropValue } from './snapshot.ts';
import { computeStatuses, type ComponentStatus } from './status.ts';
import { findOrphans, orphanStatus, type Orphan, type Removal } from './orphans.ts';

export type VertexAttributes = { label: string; props: Record<string, PropValue> };
export type EdgeAttributes = { label: string; props: Record<string, PropValue> };
export type KarmaGraph = DirectedGraph<VertexAttributes, EdgeAttributes>;

export const envId = (env: string): string => `env:${env}`;
export const componentId = (env: string, name: string): string => `component:${env}:${name}`;
export const outputId = (env: string, component: string, name: string): string => `output:${env}:${component}:${name}`;
export const paramId = (path: string): string => `param:${path}`;
export const edgeId = (label: string, from: string, to: string): string => `${label}:${from}->${to}`;

export interface Build {
  readonly config: Config;
  /** Vertices and edges by id, in insertion order: what the snapshot and the stores are made of. */
  readonly vertices: ReadonlyMap<string, VertexAttributes>;
  readonly edges: ReadonlyMap<string, EdgeAttributes & { from: string; to: string }>;
  /** The same graph as a graphology graph, for traversals and queries; built on first use. */
  readonly graph: KarmaGraph;
  /** By `env/component`: every deployment of the config, then every orphan. */
  readonly statuses: ReadonlyMap<string, ComponentStatus>;
  /** Deployments gone from the config whose runtime record remains (status orphaned), by env then component. */
  readonly orphans: readonly Orphan[];
  readonly meta: BuildMeta;
}

export type EdgeMap = Map<string, EdgeAttributes & { from: string; to: string }>;

/** Adds an edge, or merges props into an existing one (an edge declared twice: dependsOn AND an output). */
function addEdge(edges: EdgeMap, label: string, from: string, to: string, props: Record<string, PropValue>): void {
  const id = edgeId(label, from, to);
  const existing = edges.get(id);
  if (existing) {
    for (const [k, v] of Object.entries(props)) {
      const prev = existing.props[k];
      existing.props[k] = prev === undefined || prev === v ? v : [...new Set([...String(prev).split(','), ...String(v).split(',')])].sort().join(',');
    }
    return;
  }
  edges.set(id, { label, from, to, props });
}

/** The vertices and edges as a graphology graph (attributes shared, not copied). */
export function graphologyView(vertices: ReadonlyMap<string, VertexAttributes>, edges: ReadonlyMap<string, EdgeAttributes & { from: string; to: string }>): KarmaGraph {
  const graph: KarmaGraph = new DirectedGraph({ allowSelfLoops: false });
  for (const [id, v] of vertices) graph.addNode(id, v);
  for (const [id, e] of edges) graph.addDirectedEdgeWithKey(id, e.from, e.to, { label: e.label, props: e.props });
  return graph;
}

/** The props of a deployment's Component vertex, given its status. */
export function componentProps(d: Deployment, def: ComponentDef, status: ComponentStatus): Record<string, PropValue> {
  const props: Record<string, PropValue> = {
    name: d.component,
    env: d.env,
    status: status.status,
    reason: status.reason,
    configHash: d.configHash,
    file: d.file,
    module: def.terraform,
  };
  if (def.description) props['description'] = def.description;
  if (status.state) {
    props['appliedConfigHash'] = status.state.configHash;
    props['appliedAt'] = status.state.appliedAt;
    props['result'] = status.state.result;
    if (status.state.commit) props['appliedCommit'] = status.state.commit;
  }
  return props;
}

/** The props of the Output vertex of `output` of a deployment, whose parameter at `path` is `param` (undefined: absent). */
export function outputProps(d: Deployment, def: ComponentDef, output: string, path: string, param: Parameter | undefined): Record<string, PropValue> {
  const oprops: Record<string, PropValue> = { name: output, env: d.env, component: d.component, path, present: param !== undefined };
  if (param) {
    oprops['version'] = param.version;
    oprops['type'] = param.type;
    // A secret gets neither its value nor a hash of it (an unsalted hash lets anyone test guesses offline):
    // its version says when it changed.
    if (param.type !== 'SecureString' && !def.sensitiveOutputs.includes(output)) {
      oprops['valueHash'] = sha256(param.value).slice(0, 32);
      oprops['value'] = param.value;
    }
  }
  return oprops;
}

/** The props of the Parameter vertex of an external `${ssm:path}` parameter (never its value). */
export function parameterProps(path: string, param: Parameter | undefined): Record<string, PropValue> {
  const props: Record<string, PropValue> = { path, present: param !== undefined };
  if (param) {
    props['version'] = param.version;
    props['type'] = param.type;
    if (param.type !== 'SecureString') props['valueHash'] = sha256(param.value).slice(0, 32);
  }
  return props;
}

/**
 * The DEPENDS_ON and CONSUMES edges of one deployment, `consumed` being the versions its last apply consumed
 * (they become the CONSUMES edges' appliedVersion).
 */
export function addDeploymentEdges(edges: EdgeMap, d: Deployment, consumed: Readonly<Record<string, number>>, prefix: string): void {
  const id = componentId(d.env, d.component);
  for (const dep of d.dependsOn) addEdge(edges, 'DEPENDS_ON', id, componentId(d.env, dep), { via: 'dependsOn' });
  for (const ref of d.references) {
    if (ref.kind === 'ssm') {
      const eprops: Record<string, PropValue> = { inputs: ref.at };
      if (consumed[ref.path] !== undefined) eprops['appliedVersion'] = consumed[ref.path]!;
      addEdge(edges, 'CONSUMES', id, paramId(ref.path), eprops);
      continue;
    }
    const path = outputParamPath(prefix, ref.env, ref.component, ref.output);
    const eprops: Record<string, PropValue> = { inputs: ref.at };
    if (consumed[path] !== undefined) eprops['appliedVersion'] = consumed[path]!;
    addEdge(edges, 'CONSUMES', id, outputId(ref.env, ref.component, ref.output), eprops);
    addEdge(edges, 'DEPENDS_ON', id, componentId(ref.env, ref.component), { via: 'output' });
  }
}

export function buildGraph(config: Config, runtime: RuntimeSnapshot, options: { builtAt: string; removals?: ReadonlyMap<string, Removal> }): Build {
  const prefix = config.project.parameterPrefix;
  const statuses = computeStatuses(config, runtime);
  const orphans = findOrphans(config, runtime, options.removals);
  for (const o of orphans) statuses.set(deploymentKey(o.env, o.component), orphanStatus(o));
  const vertices = new Map<string, VertexAttributes>();
  const edges: EdgeMap = new Map();

  for (const env of config.project.environments.values()) {
    const props: Record<string, PropValue> = { name: env.name };
    if (env.region) props['region'] = env.region;
    if (env.account) props['account'] = env.account;
    vertices.set(envId(env.name), { label: 'Environment', props });
  }

  const addComponent = (d: Deployment): void => {
    const def = config.components.get(d.component)!;
    const id = componentId(d.env, d.component);
    vertices.set(id, { label: 'Component', props: componentProps(d, def, statuses.get(deploymentKey(d.env, d.component))!) });
    addEdge(edges, 'IN_ENV', id, envId(d.env), {});
    for (const output of def.outputs) {
      const path = outputParamPath(prefix, d.env, d.component, output);
      const oid = outputId(d.env, d.component, output);
      vertices.set(oid, { label: 'Output', props: outputProps(d, def, output, path, runtime.get(path)) });
      addEdge(edges, 'PRODUCES', id, oid, {});
    }
  };
  for (const d of config.deployments) addComponent(d);
  for (const o of orphans) addOrphan(vertices, edges, o, runtime);

  for (const d of config.deployments) {
    for (const ref of d.references) {
      if (ref.kind === 'ssm' && !vertices.has(paramId(ref.path))) vertices.set(paramId(ref.path), { label: 'Parameter', props: parameterProps(ref.path, runtime.get(ref.path)) });
    }
    addDeploymentEdges(edges, d, statuses.get(deploymentKey(d.env, d.component))?.state?.consumed ?? {}, prefix);
  }

  const meta: BuildMeta = {
    project: config.project.project,
    builtAt: options.builtAt,
    source: config.source,
    ...(config.commit ? { commit: config.commit } : {}),
    configFingerprint: configFingerprint(config),
  };
  let graph: KarmaGraph | undefined;
  return {
    config,
    vertices,
    edges,
    get graph(): KarmaGraph {
      return (graph ??= graphologyView(vertices, edges));
    },
    statuses,
    orphans,
    meta,
  };
}

function addOrphan(vertices: Map<string, VertexAttributes>, edges: EdgeMap, o: Orphan, runtime: RuntimeSnapshot): void {
  const props: Record<string, PropValue> = { name: o.component, env: o.env, status: 'orphaned', reason: o.reason };
  if (o.state) {
    props['appliedConfigHash'] = o.state.configHash;
    props['appliedAt'] = o.state.appliedAt;
    props['result'] = o.state.result;
    if (o.state.commit) props['appliedCommit'] = o.state.commit;
  }
  if (o.removal?.file) props['file'] = o.removal.file;
  if (o.removal?.lastCommit) props['lastCommit'] = o.removal.lastCommit;
  if (o.removal?.removedIn) props['removedInCommit'] = o.removal.removedIn.commit;
  const id = componentId(o.env, o.component);
  vertices.set(id, { label: 'Component', props });
  addEdge(edges, 'IN_ENV', id, envId(o.env), {});
  for (const [name, path] of o.outputs) {
    const param = runtime.get(path)!;
    const oid = outputId(o.env, o.component, name);
    vertices.set(oid, { label: 'Output', props: { name, env: o.env, component: o.component, path, present: true, version: param.version, type: param.type } });
    addEdge(edges, 'PRODUCES', id, oid, {});
  }
}

/**
 * The graph as a flat, sorted, hashed element list: what stores write. The hash is sha256 over the JSON of
 * label, ends and props. Props are built in a fixed order by buildGraph, so plain JSON.stringify is already
 * canonical here (and much cheaper than sorting keys for 150,000 elements).
 */
export function toSnapshot(build: Build): GraphSnapshot {
  const vertices: GraphElement[] = [];
  const edges: GraphElement[] = [];
  for (const [id, a] of build.vertices) vertices.push(vertexElement(id, a));
  for (const [id, a] of build.edges) edges.push(edgeElement(id, a));
  const byId = (x: GraphElement, y: GraphElement): number => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
  return { meta: build.meta, vertices: vertices.sort(byId), edges: edges.sort(byId) };
}

/** The content hash of an element: sha256 over the JSON of its label, ends (edges) and props. */
export function elementHash(value: unknown): string {
  return sha256(JSON.stringify(value)).slice(0, 32);
}

/** A vertex as the snapshot holds it. */
export function vertexElement(id: string, a: VertexAttributes): GraphElement {
  return { id, label: a.label, props: a.props, hash: elementHash([a.label, a.props]) };
}

/** An edge as the snapshot holds it. */
export function edgeElement(id: string, a: EdgeAttributes & { from: string; to: string }): GraphElement {
  return { id, label: a.label, from: a.from, to: a.to, props: a.props, hash: elementHash([a.label, a.from, a.to, a.props]) };
}
