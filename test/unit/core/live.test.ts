import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import { DirectorySource } from '../../../lib/adapters/fs/directory-source.ts';
import { loadConfig, readRuntime } from '../../../lib/app/build.ts';
import type { StatusChange as EventStatusChange } from '../../../lib/app/events.ts';
import { buildGraph, toSnapshot, type Build } from '../../../lib/core/graph.ts';
import { applyRuntimeChanges, LayeredMap, type LiveState, type LiveUpdate, type StatusChange } from '../../../lib/core/live.ts';
import { outputParamPath, stateParamPath, type Config, type Deployment } from '../../../lib/core/model.ts';
import type { Parameter, ParameterType, RuntimeSnapshot } from '../../../lib/core/runtime.ts';
import type { GraphSnapshot } from '../../../lib/core/snapshot.ts';
import { generateRepo, prng } from '../../../bench/generate.ts';
import { config, type ComponentSpec } from '../../support/config.ts';
import { apply, memoryRuntime } from '../../support/applies.ts';
import type { InMemoryRuntimeStore } from '../../support/memory-stores.ts';

type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const chance = (rng: Rng, p: number): boolean => rng() < p;

const AT = '2026-12-01T00:00:00Z';

/** The state of `update` must be what a full build of `runtime` gives: elements, props, hashes, order, statuses. */
function expectSameAsFull(state: LiveState, full: Build, snapshot: GraphSnapshot): void {
  expect([...state.build.vertices]).toEqual([...full.vertices]);
  expect([...state.build.edges]).toEqual([...full.edges]);
  expect([...state.build.statuses]).toEqual([...full.statuses]);
  expect(state.build.orphans).toEqual(full.orphans);
  expect(state.snapshot.vertices).toEqual(snapshot.vertices);
  expect(state.snapshot.edges).toEqual(snapshot.edges);
  expect({ ...state.snapshot.meta, builtAt: '' }).toEqual({ ...snapshot.meta, builtAt: '' });
  expect(state.build.meta).toBe(state.snapshot.meta);
}

/** What changed status or reason from one full build to the next, as applyRuntimeChanges must report it. */
function expectedChanges(before: Build, after: Build): StatusChange[] {
  const out: StatusChange[] = [];
  for (const [key, s] of after.statuses) {
    const b = before.statuses.get(key);
    if (b?.status !== s.status || b.reason !== s.reason) out.push({ env: s.env, component: s.component, from: b?.status ?? null, to: s.status, reason: s.reason });
  }
  return out;
}

function fullBuild(cfg: Config, runtime: RuntimeSnapshot): { build: Build; snapshot: GraphSnapshot } {
  const build = buildGraph(cfg, runtime, { builtAt: AT });
  return { build, snapshot: toSnapshot(build) };
}

/**
 * A random runtime world for a config: SSM-like versions, state records of every kind (absent, in-sync, pending,
 * stale, failed, drifted, unreadable), outputs present or not, external parameters present or not.
 */
class World {
  readonly params = new Map<string, Parameter>();
  private readonly lastVersion = new Map<string, number>();
  private clock = Date.parse('2026-11-01T00:00:00Z');
  readonly cfg: Config;
  readonly rng: Rng;
  readonly prefix: string;
  readonly externals: string[];
  readonly ghosts: string[];

  constructor(cfg: Config, rng: Rng) {
    this.cfg = cfg;
    this.rng = rng;
    this.prefix = cfg.project.parameterPrefix;
    this.externals = [...new Set(cfg.deployments.flatMap((d) => d.references.flatMap((r) => (r.kind === 'ssm' ? [r.path] : []))))];
    const env = [...cfg.project.environments.keys()][0]!;
    this.ghosts = [`${this.prefix}/${env}/ghost/state`, `${this.prefix}/${env}/ghost/outputs/url`, `${this.prefix}/${env}/phantom/outputs/id`];
  }

  param(name: string, value: string, type: ParameterType = 'String'): Parameter {
    const version = (this.lastVersion.get(name) ?? 0) + 1;
    this.lastVersion.set(name, version);
    this.clock += 1000;
    return { name, value, version, type, lastModified: new Date(this.clock).toISOString() };
  }

  paths(d: Deployment): string[] {
    return d.references.map((r) => (r.kind === 'ssm' ? r.path : outputParamPath(this.prefix, r.env, r.component, r.output)));
  }

  /** A state record for `d` of a random kind, consuming the current versions (or older ones) of what it reads. */
  stateValue(d: Deployment | undefined): string {
    const rng = this.rng;
    if (chance(rng, 0.05)) return '{not json';
    if (chance(rng, 0.03)) return JSON.stringify({ configHash: 'x', result: 'maybe' });
    const consumed: Record<string, number> = {};
    for (const path of d ? this.paths(d) : []) {
      const v = this.params.get(path)?.version ?? this.lastVersion.get(path);
      if (v !== undefined && !chance(rng, 0.1)) consumed[path] = chance(rng, 0.25) && v > 1 ? v - 1 : v;
    }
    const failed = chance(rng, 0.12);
    return JSON.stringify({
      configHash: d && !chance(rng, 0.1) ? d.configHash : 'an-older-hash',
      consumed,
      ...(chance(rng, 0.5) ? { commit: `c${Math.floor(rng() * 1e8).toString(16)}abcdef` } : {}),
      appliedAt: new Date(this.clock).toISOString(),
      result: failed ? 'failed' : 'success',
      ...(failed ? { error: 'Error: boom' } : {}),
      ...(chance(rng, 0.1) ? { drift: { checkedAt: AT, drifted: chance(rng, 0.7), ...(chance(rng, 0.5) ? { summary: '1 to change' } : {}) } } : {}),
    });
  }

  outputValue(): { value: string; type: ParameterType } {
    return { value: `v-${Math.floor(this.rng() * 1e6)}`, type: chance(this.rng, 0.15) ? 'SecureString' : 'String' };
  }

  /** Initial runtime: upstream-first so consumed versions exist. */
  seed(): void {
    for (const p of this.externals) if (chance(this.rng, 0.85)) this.params.set(p, this.param(p, `ext-${p}`, chance(this.rng, 0.3) ? 'SecureString' : 'String'));
    for (const d of this.cfg.deployments) {
      for (const o of this.cfg.components.get(d.component)!.outputs) {
        const path = outputParamPath(this.prefix, d.env, d.component, o);
        if (chance(this.rng, 0.85)) {
          const { value, type } = this.outputValue();
          this.params.set(path, this.param(path, value, type));
        }
      }
    }
    for (const d of this.cfg.deployments) {
      if (chance(this.rng, 0.85)) {
        const path = stateParamPath(this.prefix, d.env, d.component);
        this.params.set(path, this.param(path, this.stateValue(d)));
      }
    }
  }

  /** One random change: name → new value or null. */
  change(): [string, Parameter | null] {
    const rng = this.rng;
    const cfg = this.cfg;
    const d = pick(rng, cfg.deployments);
    const roll = rng();
    if (roll < 0.3) {
      const path = stateParamPath(this.prefix, d.env, d.component);
      return [path, chance(rng, 0.12) ? null : this.param(path, this.stateValue(d))];
    }
    if (roll < 0.6) {
      const outputs = cfg.components.get(d.component)!.outputs;
      if (outputs.length > 0) {
        const path = outputParamPath(this.prefix, d.env, d.component, pick(rng, outputs));
        if (chance(rng, 0.2)) return [path, null];
        const { value, type } = this.outputValue();
        return [path, this.param(path, value, type)];
      }
    }
    if (roll < 0.72 && this.externals.length > 0) {
      const path = pick(rng, this.externals);
      return [path, chance(rng, 0.2) ? null : this.param(path, `ext-${Math.floor(rng() * 1e6)}`, chance(rng, 0.3) ? 'SecureString' : 'String')];
    }
    if (roll < 0.8) {
      // Unrelated: another prefix, an environment not declared, a parameter of a deployment the graph does not read.
      const path = pick(rng, ['/elsewhere/x', `${this.prefix}/undeclared-env/app/state`, `${this.prefix}/${d.env}/${d.component}/outputs/undeclared`, `${this.prefix}/${d.env}/${d.component}/lock`]);
      return [path, chance(rng, 0.2) ? null : this.param(path, `u-${Math.floor(rng() * 1e6)}`)];
    }
    if (roll < 0.88) {
      // The same parameter again (an event for a write that changed nothing).
      const existing = [...this.params.values()];
      const p = pick(rng, existing);
      return [p.name, { ...p }];
    }
    // Orphans: a deployment not in the config leaves (or loses) a record.
    const path = pick(rng, this.ghosts);
    if (chance(rng, 0.35)) return [path, null];
    return [path, this.param(path, path.endsWith('/state') ? this.stateValue(undefined) : `o-${Math.floor(rng() * 1e6)}`)];
  }

  apply(changes: ReadonlyMap<string, Parameter | null>): void {
    for (const [name, p] of changes) {
      if (p) this.params.set(name, p);
      else this.params.delete(name);
    }
  }
}

/** A random config: components c00..cNN in dependency layers, references to earlier ones (also across environments and twice to one output), external parameters, dependsOn. */
function randomConfig(rng: Rng): Config {
  const envs = chance(rng, 0.5) ? ['dev'] : ['dev', 'prod'];
  const n = 4 + Math.floor(rng() * 11);
  const names = Array.from({ length: n }, (_, i) => `c${String(i).padStart(2, '0')}`);
  const outputs = names.map(() => Array.from({ length: 1 + Math.floor(rng() * 3) }, (_, k) => `o${k}`));
  const deployedIn = new Map<string, Set<number>>(envs.map((e) => [e, new Set<number>()]));
  const specs: Record<string, ComponentSpec> = {};
  const refsOf: { target: number; output: string }[][] = [];
  const dependsOf: number[][] = [];
  const ssmOf: string[][] = [];
  for (let i = 0; i < n; i++) {
    const refs: { target: number; output: string }[] = [];
    const depends: number[] = [];
    const count = i === 0 ? 0 : Math.floor(rng() * 4);
    for (let k = 0; k < count; k++) {
      // Mostly the component just before: deep chains.
      const target = chance(rng, 0.5) ? i - 1 : Math.floor(rng() * i);
      if (chance(rng, 0.2)) depends.push(target);
      else refs.push({ target, output: pick(rng, outputs[target]!) });
    }
    refsOf.push(refs);
    dependsOf.push([...new Set(depends)]);
    ssmOf.push(chance(rng, 0.3) ? [`/ext/p${Math.floor(rng() * 3)}`] : []);
  }
  for (let i = 0; i < n; i++) {
    const inputs: Record<string, Record<string, unknown>> = {};
    envs.forEach((env, e) => {
      const deps = [...refsOf[i]!.map((r) => r.target), ...dependsOf[i]!];
      // dev has everything; prod a random part, closed under dependencies (a reference to what is not deployed is refused).
      const deployedHere = e === 0 || (chance(rng, 0.8) && deps.every((t) => deployedIn.get(env)!.has(t)));
      if (!deployedHere) return;
      deployedIn.get(env)!.add(i);
      const value: Record<string, unknown> = { size: e + 1 };
      refsOf[i]!.forEach((r, k) => {
        // From prod, sometimes the dev one (a shared environment).
        const across = e > 0 && chance(rng, 0.3);
        value[`in${k}`] = across ? `\${env:dev/${names[r.target]}.${r.output}}` : `\${${names[r.target]}.${r.output}}`;
        if (chance(rng, 0.2)) value[`again${k}`] = [`\${${names[r.target]}.${r.output}}`];
      });
      ssmOf[i]!.forEach((p, k) => (value[`ext${k}`] = `\${ssm:${p}}`));
      inputs[env] = value;
    });
    specs[names[i]!] = { outputs: outputs[i]!, ...(dependsOf[i]!.length > 0 ? { dependsOn: dependsOf[i]!.map((t) => names[t]!) } : {}), in: inputs };
  }
  return config(envs, specs);
}

/**
 * The heart: random configs, random runtimes, random change sequences; after every step the incremental state
 * equals a full build of the same runtime, the reported status changes are exactly those between the two full
 * builds, and the previous state is left as it was.
 */
function runSequence(cfg: Config, rng: Rng, steps: number, maxBatch: number): { incremental: number; full: number; noop: number; recomputed: number; changes: number } {
  const world = new World(cfg, rng);
  world.seed();
  const start = fullBuild(cfg, world.params);
  let state: LiveState = { build: start.build, snapshot: start.snapshot, runtime: new Map(world.params) };
  let expected = start;
  const tally = { incremental: 0, full: 0, noop: 0, recomputed: 0, changes: 0 };
  for (let step = 0; step < steps; step++) {
    const batch = new Map<string, Parameter | null>();
    const size = 1 + Math.floor(rng() * maxBatch);
    for (let k = 0; k < size; k++) {
      const [name, value] = world.change();
      batch.set(name, value);
    }
    const touchesGhost = [...batch].some(([name, p]) => {
      if (!world.ghosts.includes(name)) return false;
      const before = world.params.get(name);
      return p === null ? before !== undefined : JSON.stringify(before) !== JSON.stringify(p);
    });
    const prevState = state;
    const prevSnapshotVertices = [...prevState.snapshot.vertices];
    const prevEdges = [...prevState.build.edges];

    // Sometimes a sibling update from the same state first: both must stand on their own.
    let sibling: { update: LiveUpdate; runtime: Map<string, Parameter> } | undefined;
    if (chance(rng, 0.15)) {
      const other = new Map([world.change()]);
      const runtime = new Map(world.params);
      for (const [n, p] of other) if (p) runtime.set(n, p);
      else runtime.delete(n);
      sibling = { update: applyRuntimeChanges(prevState, other, { builtAt: `sibling ${step}` }), runtime };
    }

    world.apply(batch);
    const update = applyRuntimeChanges(prevState, batch, { builtAt: `step ${step}` });
    const now = fullBuild(cfg, world.params);
    expectSameAsFull(update, now.build, now.snapshot);
    expect(update.statusChanges).toEqual(expectedChanges(expected.build, now.build));
    expect(update.full).toBe(touchesGhost);
    if (update.build === prevState.build) {
      expect(update.recomputed).toBe(0);
      expect(update.snapshot).toBe(prevState.snapshot);
      tally.noop++;
    } else {
      expect(update.snapshot.meta.builtAt).toBe(`step ${step}`);
      if (update.full) tally.full++;
      else tally.incremental++;
    }
    tally.recomputed += update.recomputed;
    tally.changes += update.statusChanges.length;
    // The runtime the state carries: every parameter the graph reads, as the world has it.
    for (const name of [...cfg.deployments.flatMap((d) => [stateParamPath(cfg.project.parameterPrefix, d.env, d.component), ...world.paths(d)]), ...world.ghosts]) {
      expect(update.runtime.get(name)).toEqual(world.params.get(name));
    }
    // The previous state is untouched.
    expect(prevState.snapshot.vertices).toEqual(prevSnapshotVertices);
    expect([...prevState.build.edges]).toEqual(prevEdges);
    expect([...prevState.build.vertices]).toEqual([...expected.build.vertices]);
    expect([...prevState.build.statuses]).toEqual([...expected.build.statuses]);

    if (sibling) {
      const s = fullBuild(cfg, sibling.runtime);
      expectSameAsFull(sibling.update, s.build, s.snapshot);
    }
    if (step % 10 === 9) expect(update.build.graph.export()).toEqual(now.build.graph.export());
    state = update;
    expected = now;
  }
  return tally;
}

describe('live graph: incremental updates equal a full build', () => {
  it('random configs, runtimes and change sequences (statuses, propagation, orphans, no-ops)', () => {
    const totals = { incremental: 0, full: 0, noop: 0, recomputed: 0, changes: 0 };
    for (let seed = 1; seed <= 40; seed++) {
      const rng = prng(seed);
      const cfg = randomConfig(rng);
      const t = runSequence(cfg, rng, 30, 3);
      if (process.env['LIVE_TALLY']) console.log(seed, JSON.stringify(t));
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += t[k];
    }
    // The sequences really exercised every path.
    expect(totals.incremental).toBeGreaterThan(600);
    expect(totals.full).toBeGreaterThan(50);
    expect(totals.noop).toBeGreaterThan(50);
    expect(totals.changes).toBeGreaterThan(600);
  }, 300_000);

  it('snapshots read late, in any order, after many updates nobody read (their arrays are made on first read)', () => {
    for (let seed = 1; seed <= 15; seed++) {
      const rng = prng(seed * 7);
      const cfg = randomConfig(rng);
      const world = new World(cfg, rng);
      world.seed();
      const start = fullBuild(cfg, world.params);
      let state: LiveState = { build: start.build, snapshot: start.snapshot, runtime: new Map(world.params) };
      const held: { state: LiveState; runtime: Map<string, Parameter> }[] = [];
      for (let i = 0; i < 25; i++) {
        const batch = new Map([world.change()]);
        world.apply(batch);
        state = applyRuntimeChanges(state, batch, { builtAt: AT });
        held.push({ state, runtime: new Map(world.params) });
      }
      // Latest first, then the others shuffled.
      const order = [held.length - 1, ...held.slice(0, -1).map((_, i) => i).sort(() => rng() - 0.5)];
      for (const i of order) {
        const expected = fullBuild(cfg, held[i]!.runtime);
        expect(held[i]!.state.snapshot.vertices).toEqual(expected.snapshot.vertices);
        expect(held[i]!.state.snapshot.edges).toEqual(expected.snapshot.edges);
      }
    }
  });

  it('a generated repo (bench/generate.ts: kinds, sensitive outputs, cross-environment zones, ${ssm:} parameters, dependsOn)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'karma-live-'));
    dirs.push(dir);
    generateRepo({ components: 60, envs: 3, out: dir, seed: 7 });
    const cfg = await loadConfig(new DirectorySource(dir));
    for (let seed = 1; seed <= 2; seed++) {
      const t = runSequence(cfg, prng(seed * 101), 40, 2);
      expect(t.incremental).toBeGreaterThan(20);
    }
  }, 300_000);
});

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Focused cases, through the real recordApply path: network → database → app, app reads an external parameter.
const components = {
  network: { outputs: ['vpc_id'], in: { dev: { cidr: '10.0.0.0/16' } } },
  database: { outputs: ['endpoint'], in: { dev: { vpc: '${network.vpc_id}' } } },
  app: { outputs: ['url'], in: { dev: { db: '${database.endpoint}', key: '${ssm:/ext/key}' } } },
};

async function live(cfg: Config, store: InMemoryRuntimeStore): Promise<LiveState> {
  const runtime = await readRuntime(cfg, store);
  const build = buildGraph(cfg, runtime, { builtAt: AT });
  return { build, snapshot: toSnapshot(build), runtime };
}

/** The parameters that differ between two reads of the runtime, as a change feed would name them. */
async function changesSince(state: LiveState, cfg: Config, store: InMemoryRuntimeStore): Promise<Map<string, Parameter | null>> {
  const now = await readRuntime(cfg, store);
  const changes = new Map<string, Parameter | null>();
  for (const [name, p] of now) if (JSON.stringify(state.runtime.get(name)) !== JSON.stringify(p)) changes.set(name, p);
  for (const name of state.runtime.keys()) if (!now.has(name)) changes.set(name, null);
  return changes;
}

async function step(state: LiveState, cfg: Config, store: InMemoryRuntimeStore): Promise<LiveUpdate> {
  const update = applyRuntimeChanges(state, await changesSince(state, cfg, store), { builtAt: '2026-12-01T01:00:00Z' });
  const full = fullBuild(cfg, await readRuntime(cfg, store));
  expectSameAsFull(update, full.build, full.snapshot);
  return update;
}

const statusOf = (s: LiveState, key: string): [string, string] => [s.build.statuses.get(key)!.status, s.build.statuses.get(key)!.reason];

describe('live graph: focused cases', () => {
  async function allApplied(): Promise<{ cfg: Config; store: InMemoryRuntimeStore }> {
    const cfg = config(['dev'], components);
    const store = memoryRuntime();
    await store.put('/ext/key', 'k', { type: 'SecureString' });
    await apply(cfg, store, 'dev', 'network', { vpc_id: 'vpc-1' });
    await apply(cfg, store, 'dev', 'database', { endpoint: 'db:5432' });
    await apply(cfg, store, 'dev', 'app', { url: 'https://app' });
    return { cfg, store };
  }

  it('a bumped output makes its consumer stale-inputs, and only that', async () => {
    // Prepare
    const { cfg, store } = await allApplied();
    const before = await live(cfg, store);
    // Act: network re-applied with a new vpc id (its output and its state parameter change)
    await apply(cfg, store, 'dev', 'network', { vpc_id: 'vpc-2' });
    const after = await step(before, cfg, store);
    // Assess
    expect(after.full).toBe(false);
    expect(statusOf(after, 'dev/database')).toEqual(['stale-inputs', 'network.vpc_id is at version 2, applied with version 1']);
    expect(after.statusChanges).toEqual([{ env: 'dev', component: 'database', from: 'in-sync', to: 'stale-inputs', reason: 'network.vpc_id is at version 2, applied with version 1' }]);
    expect(after.snapshot.vertices.find((v) => v.id === 'output:dev:network:vpc_id')!.props).toMatchObject({ version: 2, value: 'vpc-2' });
    // app is in-sync: database's status moved, but a stale upstream blocks nothing, so the walk stops at app.
    expect(statusOf(after, 'dev/app')[0]).toBe('in-sync');
    expect(after.recomputed).toBe(3);
  });

  it('a failed upstream blocks its dependents transitively, and they come back when it recovers', async () => {
    // Prepare: a → b → c → d, b c d drifted (they need an apply, so an upstream failure blocks them)
    const chain = {
      a: { outputs: ['id'], in: { dev: { x: 1 } } },
      b: { outputs: ['id'], in: { dev: { up: '${a.id}' } } },
      c: { outputs: ['id'], in: { dev: { up: '${b.id}' } } },
      d: { outputs: ['id'], in: { dev: { up: '${c.id}' } } },
    };
    const cfg = config(['dev'], chain);
    const store = memoryRuntime();
    await apply(cfg, store, 'dev', 'a', { id: 'a1' });
    for (const name of ['b', 'c', 'd']) await apply(cfg, store, 'dev', name, { id: `${name}1` }, { drift: { drifted: true, summary: '1 to change' } });
    const before = await live(cfg, store);
    expect(statusOf(before, 'dev/d')[0]).toBe('drifted');
    // Act
    await apply(cfg, store, 'dev', 'a', {}, { result: 'failed', error: 'Error: quota' });
    const failed = await step(before, cfg, store);
    // Assess
    expect(failed.statusChanges.map((c) => [c.component, c.from, c.to, c.reason])).toEqual([
      ['a', 'in-sync', 'failed', 'apply failed at 2026-11-28T10:00:00Z: Error: quota'],
      ['b', 'drifted', 'blocked', 'a is failed'],
      ['c', 'drifted', 'blocked', 'b is blocked'],
      ['d', 'drifted', 'blocked', 'c is blocked'],
    ]);
    // Act: a applied again with the same output
    await apply(cfg, store, 'dev', 'a', { id: 'a1' });
    const recovered = await step(failed, cfg, store);
    expect(recovered.statusChanges.map((c) => [c.component, c.to])).toEqual([
      ['a', 'in-sync'],
      ['b', 'drifted'],
      ['c', 'drifted'],
      ['d', 'drifted'],
    ]);
  });

  it('a deleted output blocks its consumer with missing-output; recreating it unblocks', async () => {
    const { cfg, store } = await allApplied();
    const before = await live(cfg, store);
    await store.delete(['/karma/dev/network/outputs/vpc_id']);
    const deleted = await step(before, cfg, store);
    expect(statusOf(deleted, 'dev/database')).toEqual(['blocked', 'network has no output vpc_id (/karma/dev/network/outputs/vpc_id)']);
    expect(deleted.build.statuses.get('dev/database')!.blockers).toEqual([
      { kind: 'missing-output', env: 'dev', component: 'network', output: 'vpc_id', path: '/karma/dev/network/outputs/vpc_id' },
    ]);
    expect(deleted.snapshot.vertices.find((v) => v.id === 'output:dev:network:vpc_id')!.props).toEqual({
      name: 'vpc_id',
      env: 'dev',
      component: 'network',
      path: '/karma/dev/network/outputs/vpc_id',
      present: false,
    });
    // app: its upstream is blocked, but it is in-sync, so it stays in-sync (docs/statuses.md).
    expect(statusOf(deleted, 'dev/app')[0]).toBe('in-sync');
    await store.put('/karma/dev/network/outputs/vpc_id', 'vpc-1');
    const back = await step(deleted, cfg, store);
    // Deleted and created again, SSM starts the parameter over at version 1: the version database applied with.
    expect(statusOf(back, 'dev/database')[0]).toBe('in-sync');
  });

  it('a drift check result moves only the checked deployment', async () => {
    const { cfg, store } = await allApplied();
    const before = await live(cfg, store);
    await apply(cfg, store, 'dev', 'database', { endpoint: 'db:5432' }, { drift: { drifted: true, summary: '2 to change', checkedAt: '2026-12-01T00:00:00Z' } });
    const after = await step(before, cfg, store);
    expect(after.statusChanges).toEqual([{ env: 'dev', component: 'database', from: 'in-sync', to: 'drifted', reason: 'drift check at 2026-12-01T00:00:00Z found changes: 2 to change' }]);
    // database's status moved, so app (its dependent) was looked at again, and stayed in-sync; network was not.
    expect(after.recomputed).toBe(2);
  });

  it('an external parameter that changes makes its consumer stale-inputs; its vertex shows the version, never the value', async () => {
    const { cfg, store } = await allApplied();
    const before = await live(cfg, store);
    await store.put('/ext/key', 'k2', { type: 'SecureString' });
    const after = await step(before, cfg, store);
    expect(after.statusChanges.map((c) => [c.component, c.to])).toEqual([['app', 'stale-inputs']]);
    expect(after.snapshot.vertices.find((v) => v.id === 'param:/ext/key')!.props).toEqual({ path: '/ext/key', present: true, version: 2, type: 'SecureString' });
    expect(JSON.stringify(after.snapshot)).not.toContain('k2');
  });

  it('a change that concerns nothing, or writes what is already there, returns the same state', async () => {
    const { cfg, store } = await allApplied();
    const before = await live(cfg, store);
    const same = before.runtime.get('/karma/dev/network/outputs/vpc_id')!;
    const update = applyRuntimeChanges(
      before,
      new Map<string, Parameter | null>([
        ['/elsewhere/x', { name: '/elsewhere/x', value: 'x', version: 1, type: 'String', lastModified: AT }],
        ['/karma/dev/network/lock', null],
        ['/karma/dev/network/outputs/vpc_id', { ...same }],
      ]),
      { builtAt: 'later' },
    );
    expect(update.build).toBe(before.build);
    expect(update.snapshot).toBe(before.snapshot);
    expect(update.runtime).toBe(before.runtime);
    expect(update).toMatchObject({ recomputed: 0, full: false, statusChanges: [] });
  });

  it('a record of a deployment not in the config falls back to a full build: the orphan appears', async () => {
    const { cfg, store } = await allApplied();
    const before = await live(cfg, store);
    const other = config(['dev'], { ...components, cache: { outputs: ['endpoint'], in: { dev: {} } } });
    await apply(other, store, 'dev', 'cache', { endpoint: 'cache:6379' });
    const after = await step(before, cfg, store);
    expect(after.full).toBe(true);
    expect(after.statusChanges).toEqual([{ env: 'dev', component: 'cache', from: null, to: 'orphaned', reason: 'no longer in the config; last applied at 2026-11-28T10:00:00Z' }]);
    // Incremental again afterwards, over the rebuilt state.
    await apply(cfg, store, 'dev', 'app', { url: 'https://app2' });
    const next = await step(after, cfg, store);
    expect(next.full).toBe(false);
  });
});

describe('StatusChange', () => {
  it('is the shape of the service event (core may not import lib/app, so it is declared twice)', () => {
    expectTypeOf<StatusChange>().toEqualTypeOf<EventStatusChange>();
  });
});

describe('LayeredMap', () => {
  it('a copy with changes leaves the original alone; copies from one map that both add keys stay apart', () => {
    const base = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    const one = LayeredMap.over(base).with([
      ['b', 20],
      ['c', 3],
    ]);
    const two = one.with([
      ['a', undefined],
      ['d', 4],
    ]);
    const sibling = one.with([['e', 5]]);
    expect([...base]).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect([...one]).toEqual([
      ['a', 1],
      ['b', 20],
      ['c', 3],
    ]);
    expect([...two]).toEqual([
      ['b', 20],
      ['c', 3],
      ['d', 4],
    ]);
    expect([...sibling]).toEqual([
      ['a', 1],
      ['b', 20],
      ['c', 3],
      ['e', 5],
    ]);
    expect([one.size, two.size, sibling.size]).toEqual([3, 3, 4]);
    expect([two.has('a'), two.get('d'), sibling.has('d'), one.has('e')]).toEqual([false, 4, false, false]);
    expect([...two.with([['a', 9]]).keys()]).toEqual(['a', 'b', 'c', 'd']);
  });
});
