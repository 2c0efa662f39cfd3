/**
 * Cycle detection over deployments. Nodes are `env/component`; an edge goes from a dependent to what it
 * depends on (an output reference, a cross-environment reference or dependsOn). Tarjan's strongly connected
 * components, visited in name order so the same repo always reports the same cycle, then the shortest cycle
 * through the smallest name of each component: `a -> b -> c -> a` reads "a depends on b, which depends on c...".
 */
import type { Deployment } from './model.ts';

const edgeCache = new WeakMap<Deployment, readonly string[]>();

/**
 * What a deployment depends on, as sorted `env/component` keys. Computed once per deployment (the statuses, every
 * plan and the cycle check all ask): deployments are immutable once parsed.
 */
export function dependencyEdges(d: Deployment): readonly string[] {
  let cached = edgeCache.get(d);
  if (cached === undefined) {
    const targets = new Set<string>();
    for (const dep of d.dependsOn) targets.add(`${d.env}/${dep}`);
    for (const r of d.references) if (r.kind === 'output') targets.add(`${r.env}/${r.component}`);
    cached = [...targets].sort();
    edgeCache.set(d, cached);
  }
  return cached;
}

export function findCycles(deployments: readonly Deployment[]): string[][] {
  const adjacency = new Map<string, readonly string[]>();
  for (const d of deployments) adjacency.set(`${d.env}/${d.component}`, dependencyEdges(d));
  const nodes = [...adjacency.keys()].sort();

  // Iterative Tarjan (deep chains would overflow a recursive one).
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const neighbours = adjacency.get(frame.node) ?? [];
      if (frame.next < neighbours.length) {
        const w = neighbours[frame.next++]!;
        if (!adjacency.has(w)) continue;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== frame.node);
        if (scc.length > 1) components.push(scc);
      }
    }
  }

  return components
    .map((scc) => {
      const members = new Set(scc);
      const start = [...scc].sort()[0]!;
      // Breadth-first from start, inside the component, back to start: the shortest cycle.
      const previous = new Map<string, string>();
      const queue = [start];
      let found = false;
      for (let q = 0; q < queue.length && !found; q++) {
        const node = queue[q]!;
        for (const w of adjacency.get(node) ?? []) {
          if (!members.has(w)) continue;
          if (w === start) {
            previous.set(start, node);
            found = true;
            break;
          }
          if (!previous.has(w)) {
            previous.set(w, node);
            queue.push(w);
          }
        }
      }
      const cycle = [start];
      for (let n = previous.get(start)!; n !== start; n = previous.get(n)!) cycle.push(n);
      cycle.push(start);
      // `cycle` walks the edges backwards; reverse to read in dependency direction.
      return [start, ...cycle.slice(1, -1).reverse(), start];
    })
    .sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
}
