/**
 * The graph as text pictures: Graphviz DOT and Mermaid, components clustered by environment and coloured by
 * status. Pure: the CLI (`karma graph show --format dot|mermaid`) and the API (`GET /graph?format=`) print the
 * same text.
 */
import { STATUS_COLOURS, STATUSES, type Status } from './status-names.ts';
import type { GraphSnapshot } from './snapshot.ts';

/**
 * The picture of a graph that `graph show --format dot|mermaid` draws: components (by environment, coloured
 * by status), the external parameters they read, and one edge per dependency.
 *
 * Direction: every edge points the way outputs flow, upstream → dependent (network → database), which is
 * also the apply order read left to right. The store's DEPENDS_ON edges point the other way (dependent →
 * upstream, like `terraform graph`); the picture turns them round. An edge is labelled with the outputs the
 * dependent consumes (at most MAX_EDGE_OUTPUTS names, then "+N more"); an ordering-only edge (`dependsOn`
 * with no output consumed) is dashed and unlabelled.
 *
 * With an environment, the picture keeps its edges to and from other environments (`${env:...}`
 * references): the other environment's component is drawn dashed, in a group named after its environment.
 */
export interface PictureNode {
  readonly id: string;
  readonly env: string;
  readonly name: string;
  readonly status: string;
  /** In another environment than the one asked for: drawn dashed. */
  readonly otherEnv: boolean;
}
export interface PictureParam {
  readonly id: string;
  readonly path: string;
  readonly present: boolean;
}
export interface PictureEdge {
  /** Upstream (component or parameter id). */
  readonly from: string;
  /** Dependent component id. */
  readonly to: string;
  /** Outputs of `from` that `to` consumes, by name (empty for a parameter or an ordering-only edge). */
  readonly outputs: readonly string[];
  /** Ordering only: `dependsOn` without any output consumed. */
  readonly orderingOnly: boolean;
}
export interface Picture {
  readonly envs: readonly { readonly env: string; readonly nodes: readonly PictureNode[] }[];
  readonly params: readonly PictureParam[];
  readonly edges: readonly PictureEdge[];
}

export const MAX_EDGE_OUTPUTS = 3;

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The components of `env` (every one without it), their external parameters and their dependencies. */
export function picture(snapshot: GraphSnapshot, env?: string): Picture {
  const vertices = new Map(snapshot.vertices.map((v) => [v.id, v]));
  const selected = (id: string): boolean => {
    const v = vertices.get(id);
    return v?.label === 'Component' && (env === undefined || v.props['env'] === env);
  };
  const nodes = new Map<string, PictureNode>();
  const addNode = (id: string): void => {
    const v = vertices.get(id);
    if (!v || v.label !== 'Component' || nodes.has(id)) return;
    nodes.set(id, { id, env: String(v.props['env']), name: String(v.props['name']), status: String(v.props['status']), otherEnv: !selected(id) });
  };
  for (const v of snapshot.vertices) if (selected(v.id)) addNode(v.id);

  // CONSUMES component → output: which outputs of which upstream (every dependent: one in another environment
  // may consume from a selected one); component → param: an external parameter of a selected component.
  const consumed = new Map<string, string[]>();
  const params = new Map<string, PictureParam>();
  const edges: PictureEdge[] = [];
  for (const e of snapshot.edges) {
    if (e.label !== 'CONSUMES') continue;
    const target = vertices.get(e.to!);
    if (target?.label === 'Output') {
      const upstream = `component:${String(target.props['env'])}:${String(target.props['component'])}`;
      const key = `${upstream}\u0000${e.from!}`;
      const list = consumed.get(key) ?? [];
      list.push(String(target.props['name']));
      consumed.set(key, list);
    } else if (target?.label === 'Parameter' && selected(e.from!)) {
      params.set(target.id, { id: target.id, path: String(target.props['path']), present: target.props['present'] === true });
      edges.push({ from: target.id, to: e.from!, outputs: [], orderingOnly: false });
    }
  }
  // DEPENDS_ON dependent → upstream, drawn upstream → dependent; kept when either end is selected.
  for (const e of snapshot.edges) {
    if (e.label !== 'DEPENDS_ON' || !(selected(e.from!) || selected(e.to!))) continue;
    addNode(e.from!);
    addNode(e.to!);
    if (!nodes.has(e.from!) || !nodes.has(e.to!)) continue; // an end that is no component vertex: nothing to draw
    const outputs = (consumed.get(`${e.to!}\u0000${e.from!}`) ?? []).sort(byString);
    edges.push({ from: e.to!, to: e.from!, outputs, orderingOnly: outputs.length === 0 });
  }
  const envs = new Map<string, PictureNode[]>();
  for (const n of [...nodes.values()].sort((a, b) => byString(a.env, b.env) || byString(a.name, b.name))) {
    const list = envs.get(n.env) ?? [];
    list.push(n);
    envs.set(n.env, list);
  }
  return {
    envs: [...envs].map(([e, ns]) => ({ env: e, nodes: ns })),
    params: [...params.values()].sort((a, b) => byString(a.path, b.path)),
    edges: edges.sort((a, b) => byString(a.from, b.from) || byString(a.to, b.to)),
  };
}

/** An edge's label: the outputs consumed, at most MAX_EDGE_OUTPUTS names then "+N more". */
export function edgeLabel(outputs: readonly string[]): string {
  if (outputs.length <= MAX_EDGE_OUTPUTS) return outputs.join(', ');
  const shown = outputs.slice(0, MAX_EDGE_OUTPUTS - 1);
  return `${shown.join(', ')} +${outputs.length - shown.length} more`;
}

export { STATUS_COLOURS };
const MISSING_PARAMETER = { fill: '#ffffff', stroke: '#c62828' };
const colours = (status: string): { fill: string; stroke: string } => STATUS_COLOURS[status as Status] ?? { fill: '#ffffff', stroke: '#000000' };

const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Graphviz DOT: components clustered by environment and filled by status, external parameters as cylinders. */
export function toDot(snapshot: GraphSnapshot, env?: string): string {
  const pic = picture(snapshot, env);
  const lines = [
    'digraph karma {',
    '  rankdir=LR;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  for (const group of pic.envs) {
    lines.push(`  subgraph ${quote(`cluster_${group.env}`)} {`, `    label=${quote(group.env)};`);
    if (group.nodes.every((n) => n.otherEnv)) lines.push('    style=dashed;');
    for (const n of group.nodes) {
      const c = colours(n.status);
      const style = n.otherEnv ? ', style="rounded,filled,dashed"' : '';
      lines.push(`    ${quote(n.id)} [label=${quote(`${n.name}\n${n.status}`).replace(/\n/g, '\\n')}, fillcolor=${quote(c.fill)}, color=${quote(c.stroke)}${style}];`);
    }
    lines.push('  }');
  }
  for (const p of pic.params) {
    const label = p.present ? p.path : `${p.path}\nmissing`;
    const c = p.present ? { fill: '#ffffff', stroke: '#616161' } : MISSING_PARAMETER;
    lines.push(`  ${quote(p.id)} [label=${quote(label).replace(/\n/g, '\\n')}, shape=cylinder, fillcolor=${quote(c.fill)}, color=${quote(c.stroke)}];`);
  }
  for (const e of pic.edges) {
    const attrs = e.orderingOnly ? ' [style=dashed]' : e.outputs.length > 0 ? ` [label=${quote(edgeLabel(e.outputs))}]` : '';
    lines.push(`  ${quote(e.from)} -> ${quote(e.to)}${attrs};`);
  }
  lines.push('}');
  return lines.join('\n');
}

/** Mermaid's class name of a status (class names are identifiers: in-sync → inSync). */
const mermaidClass = (status: string): string => status.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
const mermaidText = (s: string): string => s.replace(/"/g, '#quot;');

/** Mermaid flowchart: the same picture as toDot, nodes coloured by status through classDef. */
export function toMermaid(snapshot: GraphSnapshot, env?: string): string {
  const pic = picture(snapshot, env);
  const ids = new Map<string, string>();
  const lines = ['flowchart LR'];
  const statuses = new Set<string>();
  const classes = new Map<string, string[]>();
  const addClass = (name: string, id: string): void => {
    const list = classes.get(name) ?? [];
    list.push(id);
    classes.set(name, list);
  };
  pic.envs.forEach((group, g) => {
    lines.push(`  subgraph e${g}["${mermaidText(group.env)}"]`);
    for (const n of group.nodes) {
      const id = `n${ids.size}`;
      ids.set(n.id, id);
      lines.push(`    ${id}["${mermaidText(n.name)}<br/>${mermaidText(n.status)}"]`);
      statuses.add(n.status);
      addClass(mermaidClass(n.status), id);
      if (n.otherEnv) addClass('otherEnv', id);
    }
    lines.push('  end');
    if (group.nodes.every((n) => n.otherEnv)) lines.push(`  style e${g} stroke-dasharray:5 5`);
  });
  pic.params.forEach((p, i) => {
    const id = `p${i}`;
    ids.set(p.id, id);
    lines.push(`  ${id}[("${mermaidText(p.path)}${p.present ? '' : '<br/>missing'}")]`);
    addClass(p.present ? 'parameter' : 'missingParameter', id);
  });
  for (const e of pic.edges) {
    const arrow = e.orderingOnly ? '-.->' : e.outputs.length > 0 ? `-->|"${mermaidText(edgeLabel(e.outputs))}"|` : '-->';
    lines.push(`  ${ids.get(e.from)!} ${arrow} ${ids.get(e.to)!}`);
  }
  for (const s of STATUSES) {
    if (!statuses.has(s)) continue;
    const c = STATUS_COLOURS[s];
    lines.push(`  classDef ${mermaidClass(s)} fill:${c.fill},stroke:${c.stroke},color:#000000`);
  }
  if (classes.has('otherEnv')) lines.push('  classDef otherEnv stroke-dasharray:5 5');
  if (classes.has('parameter')) lines.push('  classDef parameter fill:#ffffff,stroke:#616161,color:#000000');
  if (classes.has('missingParameter')) lines.push(`  classDef missingParameter fill:${MISSING_PARAMETER.fill},stroke:${MISSING_PARAMETER.stroke},color:#000000`);
  for (const [name, list] of classes) lines.push(`  class ${list.join(',')} ${name}`);
  return lines.join('\n');
}

