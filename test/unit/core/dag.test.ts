/**
 * The DAG index (lib/core/dag.ts): generations, order, downstream/upstream, dependency edges, environment order
 * and cycle finding, on small graphs with exact expected arrays, and on 10,000-long chains and rings (iterative).
 */
import { describe, expect, it } from 'vitest';
import { dagOf, dependencyEdges, indexDeployments, layeredWaves } from '../../../lib/core/dag.ts';
import { findCycles } from '../../../lib/core/cycles.ts';
import type { Deployment } from '../../../lib/core/model.ts';
import { config } from '../../support/config.ts';

// zeta, alpha (roots) → mid (consumes both) → tail (dependsOn mid); lone independent. Name order ≠ declaration order.
const diamond = config(['dev'], {
  zeta: { outputs: ['id'], in: { dev: {} } },
  alpha: { outputs: ['id'], in: { dev: {} } },
  mid: { outputs: ['id'], in: { dev: { a: '${alpha.id}', z: '${zeta.id}' } } },
  tail: { outputs: [], dependsOn: ['mid'], in: { dev: { m: '${mid.id}' } } },
  lone: { outputs: [], in: { dev: {} } },
});

/** A hand-made deployment (parseConfig refuses cycles, so cycle tests build deployments directly). */
const node = (component: string, dependsOn: readonly string[] = [], env = 'dev'): Deployment => ({
  env,
  component,
  file: `environments/${env}/${component}.json`,
  inputs: {},
  references: [],
  dependsOn,
  configHash: '',
});

describe('the DAG index', () => {
  it('generations: topological generations, ties by name; order flattens them', () => {
    // Act
    const dag = dagOf(diamond);

    // Assess
    expect(dag.generations()).toEqual([['dev/alpha', 'dev/lone', 'dev/zeta'], ['dev/mid'], ['dev/tail']]);
    expect(dag.order()).toEqual(['dev/alpha', 'dev/lone', 'dev/zeta', 'dev/mid', 'dev/tail']);
  });

  it('generations of a selection: a selected node waits for selected ones it reaches through unselected ones', () => {
    const dag = dagOf(diamond);
    expect(dag.generations({ selected: ['dev/alpha', 'dev/tail'] })).toEqual([['dev/alpha'], ['dev/tail']]);
    expect(dag.generations({ selected: ['dev/tail', 'dev/lone'] })).toEqual([['dev/lone', 'dev/tail']]);
    expect(dag.generations({ selected: ['dev/nope'] })).toEqual([]);
    // The same rule over a plain map.
    const deps = new Map([['a', []], ['b', ['a']], ['c', ['b']], ['d', []]]);
    expect(layeredWaves(deps, new Set(['a', 'c', 'd']))).toEqual([['a', 'd'], ['c']]);
  });

  it('downstream and upstream: transitive closures including the start, sorted; keep prunes the walk', () => {
    const dag = dagOf(diamond);
    expect(dag.downstream(['dev/alpha'])).toEqual(['dev/alpha', 'dev/mid', 'dev/tail']);
    expect(dag.downstream(['dev/zeta', 'dev/lone'])).toEqual(['dev/lone', 'dev/mid', 'dev/tail', 'dev/zeta']);
    expect(dag.downstream(['dev/alpha'], { keep: (k) => k !== 'dev/mid' })).toEqual(['dev/alpha']);
    expect(dag.upstream(['dev/tail'])).toEqual(['dev/alpha', 'dev/mid', 'dev/tail', 'dev/zeta']);
    expect(dag.upstream(['dev/lone'])).toEqual(['dev/lone']);
  });

  it('direct dependencies and dependents, as sorted keys', () => {
    const dag = dagOf(diamond);
    expect(dag.dependencies('dev/mid')).toEqual(['dev/alpha', 'dev/zeta']);
    expect(dag.dependents('dev/mid')).toEqual(['dev/tail']);
    expect(dag.dependents('dev/alpha')).toEqual(['dev/mid']);
    expect(dag.dependencies('dev/nope')).toEqual([]);
  });

  it('dependency edges are objects: target and why (dependsOn, an output reference, or both)', () => {
    const tail = diamond.deployments.find((d) => d.component === 'tail')!;
    const mid = diamond.deployments.find((d) => d.component === 'mid')!;
    expect(dependencyEdges(tail)).toEqual([{ from: { env: 'dev', component: 'tail' }, to: { env: 'dev', component: 'mid' }, via: ['dependsOn', 'output'] }]);
    expect(dependencyEdges(mid)).toEqual([
      { from: { env: 'dev', component: 'mid' }, to: { env: 'dev', component: 'alpha' }, via: ['output'] },
      { from: { env: 'dev', component: 'mid' }, to: { env: 'dev', component: 'zeta' }, via: ['output'] },
    ]);
  });

  it('is built once per config: a copy sharing the deployments shares the index', () => {
    expect(dagOf({ ...diamond })).toBe(dagOf(diamond));
  });

  it('across environments: whole-graph generations count every edge, one environment only its own', () => {
    // Prepare: dns in shared; site in dev and prod consumes it across; cdn in dev only.
    const cfg = config(['a-dev', 'b-shared', 'c-prod'], {
      dns: { outputs: ['zone'], in: { 'b-shared': {} } },
      site: { outputs: ['url'], in: { 'a-dev': { z: '${env:b-shared/dns.zone}' }, 'c-prod': { z: '${env:b-shared/dns.zone}' } } },
      cdn: { outputs: [], in: { 'a-dev': { u: '${site.url}' } } },
    });

    // Act
    const dag = dagOf(cfg);

    // Assess
    expect(dag.generations()).toEqual([['b-shared/dns'], ['a-dev/site', 'c-prod/site'], ['a-dev/cdn']]);
    expect(dag.generations({ env: 'a-dev' })).toEqual([['a-dev/site'], ['a-dev/cdn']]);
    expect(dag.downstream(['b-shared/dns'])).toEqual(['a-dev/cdn', 'a-dev/site', 'b-shared/dns', 'c-prod/site']);
    expect(dag.downstream(['b-shared/dns'], { env: 'b-shared' })).toEqual(['b-shared/dns']);
    expect(dag.environmentOrder(['a-dev', 'b-shared', 'c-prod'])).toEqual(['b-shared', 'a-dev', 'c-prod']);
    expect(dag.environmentOrder(['c-prod', 'a-dev'])).toEqual(['a-dev', 'c-prod']);
  });

  it('environments that need each other through different deployments: what is left follows in name order', () => {
    // dev/a needs shared/x; shared/y needs dev/b: no deployment cycle, an environment cycle.
    const deployments = [
      { ...node('a', [], 'dev'), references: [{ kind: 'output', env: 'shared', component: 'x', output: 'o', at: 'i', text: '' }] },
      node('b', [], 'dev'),
      node('x', [], 'shared'),
      { ...node('y', [], 'shared'), references: [{ kind: 'output', env: 'dev', component: 'b', output: 'o', at: 'i', text: '' }] },
    ] as Deployment[];
    expect(indexDeployments(deployments).environmentOrder(['shared', 'dev'])).toEqual(['dev', 'shared']);
    expect(indexDeployments(deployments).cycles()).toEqual([]);
  });
});

describe('cycle finding', () => {
  it('one cycle per strongly connected component, from its smallest name, in dependency direction', () => {
    // Prepare: c → a → b → c, e ⇄ d, f outside pointing in.
    const deployments = [node('c', ['a']), node('a', ['b']), node('b', ['c']), node('e', ['d']), node('d', ['e']), node('f', ['a'])];

    // Act
    const cycles = findCycles(deployments);

    // Assess
    expect(cycles).toEqual([
      ['dev/a', 'dev/b', 'dev/c', 'dev/a'],
      ['dev/d', 'dev/e', 'dev/d'],
    ]);
  });

  it('the shortest cycle through the smallest name', () => {
    // a → b → c → a and b → a: the cycle reported is a -> b -> a.
    expect(findCycles([node('a', ['b']), node('b', ['c', 'a']), node('c', ['a'])])).toEqual([['dev/a', 'dev/b', 'dev/a']]);
  });

  it('across environments, and none in an acyclic graph', () => {
    const deployments = [
      { ...node('a', [], 'dev'), references: [{ kind: 'output', env: 'shared', component: 'x', output: 'o', at: 'i', text: '' }] },
      { ...node('x', [], 'shared'), references: [{ kind: 'output', env: 'dev', component: 'a', output: 'o', at: 'i', text: '' }] },
    ] as Deployment[];
    expect(findCycles(deployments)).toEqual([['dev/a', 'shared/x', 'dev/a']]);
    expect(findCycles(diamond.deployments)).toEqual([]);
  });

  it('ordering a cyclic graph fails naming the cycle instead of leaving nodes out', () => {
    const dag = indexDeployments([node('a', ['b']), node('b', ['a'])]);
    expect(() => dag.order()).toThrow('dependency cycle: dev/a -> dev/b -> dev/a: the config check should have refused it');
    expect(() => dag.generations()).toThrow('dependency cycle through');
  });
});

describe('10,000 deployments in a line', { timeout: 30_000 }, () => {
  const N = 10_000;
  const names = Array.from({ length: N }, (_, i) => `c${i}`);

  it('a ring: the one cycle is found, whole, without recursion', () => {
    // Prepare: c0 → c1 → ... → c9999 → c0
    const ring = names.map((n, i) => node(n, [names[(i + 1) % N]!]));

    // Act
    const started = performance.now();
    const cycles = findCycles(ring);
    const millis = performance.now() - started;

    // Assess
    expect(cycles).toEqual([[...names.map((n) => `dev/${n}`), 'dev/c0']]);
    expect(millis).toBeLessThan(2_000);
  });

  it('a chain: one node per generation, downstream of the root is everything, upstream of the leaf too', () => {
    // Prepare: c0 ← c1 ← ... ← c9999 (each depends on the previous one)
    const chain = names.map((n, i) => node(n, i === 0 ? [] : [names[i - 1]!]));
    const dag = indexDeployments(chain);

    // Act
    const generations = dag.generations();

    // Assess
    expect(generations).toEqual(names.map((n) => [`dev/${n}`]));
    expect(dag.downstream(['dev/c0'])).toHaveLength(N);
    expect(dag.upstream(['dev/c9999'])).toHaveLength(N);
    expect(dag.generations({ selected: ['dev/c9999', 'dev/c0'] })).toEqual([['dev/c0'], ['dev/c9999']]);
    expect(dag.cycles()).toEqual([]);
  });
});
