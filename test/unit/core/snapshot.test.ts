/**
 * lib/core/snapshot.ts: planWrite (what a diff-based store write sends: upserts for new and changed elements,
 * deletes for vanished ones), writeStats (what the write reports) and diffSnapshots (what changed between two
 * builds), with exact expected values, edge cases included: empty, identical, only deletions, a hash that
 * changed under the same id, props that differ under an equal hash.
 */
import { describe, expect, it } from 'vitest';
import { diffSnapshots, elementHashes, planWrite, writeStats, type GraphElement, type GraphSnapshot } from '../../../lib/core/snapshot.ts';

const v = (id: string, hash: string, props: GraphElement['props'] = {}, label = 'Component'): GraphElement => ({ id, label, props, hash });
const e = (from: string, to: string, hash: string, label = 'DEPENDS_ON'): GraphElement => ({ id: `${label}:${from}->${to}`, label, from, to, props: {}, hash });
const snap = (vertices: GraphElement[], edges: GraphElement[] = []): GraphSnapshot => ({
  meta: { project: 'p', builtAt: '2026-11-28T12:00:00Z', source: 'test', configFingerprint: 'f' },
  vertices,
  edges,
});
/** What a store holds after writing `s`: its ids and hashes, vertices and edges apart. */
const stored = (s: GraphSnapshot) => ({ vertices: elementHashes(snap(s.vertices as GraphElement[])), edges: elementHashes(snap([], s.edges as GraphElement[])) });
const none = { vertices: new Map<string, string>(), edges: new Map<string, string>() };

const env = v('env:dev', 'h-env', { name: 'dev' }, 'Environment');
const net = v('component:dev:net', 'h-net', { name: 'net', status: 'in-sync' });
const app = v('component:dev:app', 'h-app', { name: 'app', status: 'pending' });
const appOnNet = e('component:dev:app', 'component:dev:net', 'h-e1');
const netInEnv = e('component:dev:net', 'env:dev', 'h-e2', 'IN_ENV');
const appInEnv = e('component:dev:app', 'env:dev', 'h-e3', 'IN_ENV');
const full = snap([env, net, app], [appOnNet, netInEnv, appInEnv]);

describe('planWrite', () => {
  it('an empty store and an empty snapshot: nothing to send', () => {
    expect(planWrite(none, snap([]))).toEqual({ upsertVertices: [], upsertEdges: [], deleteVertices: [], deleteEdges: [], unchanged: 0 });
  });

  it('an empty store: every element is sent, in the snapshot order, nothing deleted', () => {
    expect(planWrite(none, full)).toEqual({ upsertVertices: [env, net, app], upsertEdges: [appOnNet, netInEnv, appInEnv], deleteVertices: [], deleteEdges: [], unchanged: 0 });
  });

  it('the same snapshot again: nothing sent, every element unchanged', () => {
    expect(planWrite(stored(full), full)).toEqual({ upsertVertices: [], upsertEdges: [], deleteVertices: [], deleteEdges: [], unchanged: 6 });
  });

  it('a hash that changed under the same id: only that element is sent, as an upsert', () => {
    // Prepare
    const pending = v('component:dev:net', 'h-net-2', { name: 'net', status: 'pending' });
    const relabelled = e('component:dev:net', 'env:dev', 'h-e2-2', 'IN_ENV');

    // Act
    const plan = planWrite(stored(full), snap([env, pending, app], [appOnNet, relabelled, appInEnv]));

    // Assess
    expect(plan).toEqual({ upsertVertices: [pending], upsertEdges: [relabelled], deleteVertices: [], deleteEdges: [], unchanged: 4 });
  });

  it('only deletions: the vanished ids, sorted; the edges of a vanished vertex are listed with it', () => {
    // Act
    const plan = planWrite(stored(full), snap([env, net], [netInEnv]));

    // Assess
    expect(plan).toEqual({
      upsertVertices: [],
      upsertEdges: [],
      deleteVertices: ['component:dev:app'],
      deleteEdges: ['DEPENDS_ON:component:dev:app->component:dev:net', 'IN_ENV:component:dev:app->env:dev'],
      unchanged: 3,
    });
  });

  it('an empty snapshot over a full store deletes everything, vertices and edges sorted by id', () => {
    expect(planWrite(stored(full), snap([]))).toEqual({
      upsertVertices: [],
      upsertEdges: [],
      deleteVertices: ['component:dev:app', 'component:dev:net', 'env:dev'],
      deleteEdges: ['DEPENDS_ON:component:dev:app->component:dev:net', 'IN_ENV:component:dev:app->env:dev', 'IN_ENV:component:dev:net->env:dev'],
      unchanged: 0,
    });
  });

  it('new, changed and vanished at once', () => {
    // Prepare
    const db = v('component:dev:db', 'h-db');
    const appOnDb = e('component:dev:app', 'component:dev:db', 'h-e4');
    const failed = v('component:dev:app', 'h-app-2', { name: 'app', status: 'failed' });

    // Act
    const plan = planWrite(stored(full), snap([env, failed, db], [appOnDb, appInEnv]));

    // Assess
    expect(plan).toEqual({
      upsertVertices: [failed, db],
      upsertEdges: [appOnDb],
      deleteVertices: ['component:dev:net'],
      deleteEdges: ['DEPENDS_ON:component:dev:app->component:dev:net', 'IN_ENV:component:dev:net->env:dev'],
      unchanged: 2,
    });
  });
});

describe('writeStats', () => {
  it('an upsert of an id the store did not hold is added, of one it held is updated; deletes count vertices and edges', () => {
    // Prepare
    const before = stored(full);
    const db = v('component:dev:db', 'h-db');
    const failed = v('component:dev:app', 'h-app-2', { name: 'app', status: 'failed' });
    const plan = planWrite(before, snap([env, failed, db], [appInEnv]));

    // Act
    const fromMaps = writeStats(plan, before, 9, 12.6);
    const fromSets = writeStats(plan, { vertices: new Set(before.vertices.keys()), edges: new Set(before.edges.keys()) }, 9, 12.4);

    // Assess
    expect(fromMaps).toEqual({ added: 1, updated: 1, deleted: 3, unchanged: 2, requests: 9, millis: 13 });
    expect(fromSets).toEqual({ added: 1, updated: 1, deleted: 3, unchanged: 2, requests: 9, millis: 12 });
  });
});

describe('diffSnapshots', () => {
  it('two empty snapshots: no difference', () => {
    expect(diffSnapshots(snap([]), snap([]))).toEqual({ added: [], removed: [], changed: [], unchanged: 0 });
  });

  it('identical snapshots: every element unchanged', () => {
    expect(diffSnapshots(full, full)).toEqual({ added: [], removed: [], changed: [], unchanged: 6 });
  });

  it('from empty: everything added, vertices and edges together sorted by id', () => {
    // By code unit: upper-case labels of edges sort before lower-case vertex ids.
    expect(diffSnapshots(snap([]), full)).toEqual({ added: [appOnNet, appInEnv, netInEnv, app, net, env], removed: [], changed: [], unchanged: 0 });
  });

  it('only deletions: the removed elements sorted by id, the rest unchanged', () => {
    expect(diffSnapshots(full, snap([env, net], [netInEnv]))).toEqual({ added: [], removed: [appOnNet, appInEnv, app], changed: [], unchanged: 3 });
  });

  it('a hash change under the same id: the props that differ, sorted by name, a vanished or new prop as undefined', () => {
    // Prepare
    const before = v('component:dev:net', 'h1', { name: 'net', status: 'in-sync', appliedAt: '2026-11-27T10:00:00Z', reason: 'applied' });
    const after = v('component:dev:net', 'h2', { name: 'net', status: 'pending', reason: 'config changed', configHash: 'c2' });

    // Act
    const diff = diffSnapshots(snap([before, env]), snap([env, after]));

    // Assess
    expect(diff).toEqual({
      added: [],
      removed: [],
      changed: [
        {
          id: 'component:dev:net',
          label: 'Component',
          changed: {
            appliedAt: { before: '2026-11-27T10:00:00Z', after: undefined },
            configHash: { before: undefined, after: 'c2' },
            reason: { before: 'applied', after: 'config changed' },
            status: { before: 'in-sync', after: 'pending' },
          },
        },
      ],
      unchanged: 1,
    });
  });

  it('a hash change with equal props (a new label or new ends) is a change with no prop listed, under the new label', () => {
    expect(diffSnapshots(snap([v('output:dev:net:id', 'h1', { name: 'id' }, 'Output')]), snap([v('output:dev:net:id', 'h2', { name: 'id' }, 'Parameter')]))).toEqual({
      added: [],
      removed: [],
      changed: [{ id: 'output:dev:net:id', label: 'Parameter', changed: {} }],
      unchanged: 0,
    });
  });

  it('props that differ under an equal hash are not compared: the hash is what says an element changed', () => {
    expect(diffSnapshots(snap([v('env:dev', 'same', { name: 'dev' })]), snap([v('env:dev', 'same', { name: 'other' })]))).toEqual({ added: [], removed: [], changed: [], unchanged: 1 });
  });

  it('changes sorted by id whatever the snapshot order; a number or boolean prop compared by value', () => {
    // Prepare
    const b1 = v('b', 'b1', { version: 1, present: true });
    const b2 = v('b', 'b2', { version: 2, present: true });
    const a1 = v('a', 'a1', { present: true });
    const a2 = v('a', 'a2', { present: false });

    // Act
    const diff = diffSnapshots(snap([b1, a1]), snap([b2, a2]));

    // Assess
    expect(diff.changed).toEqual([
      { id: 'a', label: 'Component', changed: { present: { before: true, after: false } } },
      { id: 'b', label: 'Component', changed: { version: { before: 1, after: 2 } } },
    ]);
  });
});
