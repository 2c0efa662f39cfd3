/**
 * Presentation: tables, waves, DOT and Mermaid. Plain functions over plain values.
 */
import type { Status } from '../core/status.ts';
import type { GraphSnapshot } from '../core/snapshot.ts';
import type { Waves } from '../core/order.ts';
import type { Paint } from './io.ts';
export { table } from '../core/table.ts';

export function statusPaint(status: Status, p: Record<'red' | 'green' | 'yellow' | 'cyan' | 'magenta' | 'dim', Paint>): Paint {
  switch (status) {
    case 'in-sync':
      return p.green;
    case 'failed':
      return p.red;
    case 'blocked':
      return p.magenta;
    case 'never-applied':
      return p.dim;
    case 'drifted':
      return p.red;
    default:
      return p.yellow;
  }
}

export function formatWaves(waves: Waves): string {
  if (waves.length === 0) return '  (nothing)';
  return waves.map((w, i) => `  wave ${i + 1}: ${w.join(', ')}`).join('\n');
}

const quote = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function vertexName(v: GraphSnapshot['vertices'][number]): string {
  switch (v.label) {
    case 'Component':
      return `${String(v.props['name'])}\\n${String(v.props['status'])}`;
    case 'Output':
      return `${String(v.props['component'])}.${String(v.props['name'])}`;
    case 'Parameter':
      return String(v.props['path']);
    default:
      return String(v.props['name'] ?? v.id);
  }
}

/** Graphviz DOT: components clustered by environment, outputs and parameters as small nodes. */
export function toDot(snapshot: GraphSnapshot): string {
  const lines = ['digraph karma {', '  rankdir=LR;', '  node [shape=box, fontname="Helvetica"];'];
  const byEnv = new Map<string, string[]>();
  for (const v of snapshot.vertices) {
    if (v.label === 'Environment') continue;
    const env = String(v.props['env'] ?? '');
    const shape = v.label === 'Component' ? 'box' : v.label === 'Output' ? 'ellipse' : 'note';
    const line = `    ${quote(v.id)} [label=${quote(vertexName(v)).replace(/\\\\n/g, '\\n')}, shape=${shape}];`;
    let list = byEnv.get(env);
    if (!list) byEnv.set(env, (list = []));
    list.push(line);
  }
  for (const [env, nodes] of [...byEnv].sort()) {
    if (env === '') lines.push(...nodes.map((n) => n.slice(2)));
    else lines.push(`  subgraph ${quote(`cluster_${env}`)} {`, `    label=${quote(env)};`, ...nodes, '  }');
  }
  for (const e of snapshot.edges) {
    if (e.label === 'IN_ENV') continue;
    lines.push(`  ${quote(e.from!)} -> ${quote(e.to!)} [label=${quote(e.label)}];`);
  }
  lines.push('}');
  return lines.join('\n');
}

/** Mermaid flowchart of components and their DEPENDS_ON edges (outputs folded into edge labels). */
export function toMermaid(snapshot: GraphSnapshot): string {
  const ids = new Map<string, string>();
  const idOf = (id: string): string => {
    let m = ids.get(id);
    if (!m) ids.set(id, (m = `n${ids.size}`));
    return m;
  };
  const lines = ['flowchart LR'];
  const byEnv = new Map<string, GraphSnapshot['vertices'][number][]>();
  for (const v of snapshot.vertices) {
    if (v.label !== 'Component') continue;
    const env = String(v.props['env']);
    let list = byEnv.get(env);
    if (!list) byEnv.set(env, (list = []));
    list.push(v);
  }
  for (const [env, vs] of [...byEnv].sort()) {
    lines.push(`  subgraph ${env}`);
    for (const v of vs) lines.push(`    ${idOf(v.id)}["${String(v.props['name'])}<br/>${String(v.props['status'])}"]`);
    lines.push('  end');
  }
  for (const e of snapshot.edges) {
    if (e.label !== 'DEPENDS_ON' || !ids.has(e.from!) || !ids.has(e.to!)) continue;
    lines.push(`  ${idOf(e.to!)} --> ${idOf(e.from!)}`);
  }
  return lines.join('\n');
}
