/**
 * `npm run bench:live`: the live graph's incremental update (lib/core/live.ts) against a full rebuild (issue 13).
 *
 *   node bench/live-update.ts [--components 5000] [--envs 3] [--seed 1] [--updates 200] [--dir DIR] [--json]
 *
 * 1. Generates the synthetic repo of bench/graph-build.ts (bench/generate.ts) and seeds its local runtime with the
 *    same history of applies (bench/seed.ts), then loads the config and reads the runtime as `karma graph build`
 *    does. Everything after that is in memory: no store is written.
 * 2. Full rebuild: buildGraph + toSnapshot from the in-memory config and runtime (5 runs; the config's DAG is
 *    cached after the first, as it is in the service).
 * 3. Incremental: applyRuntimeChanges, one changed parameter per update, each update on the state the previous one
 *    returned (as the service chains them):
 *      output · mid    an output parameter of a component of the middle layer that has consumers (a new version
 *                      and value), a different one each update
 *      output · mid+r  the same with the snapshot read after each update (its arrays are made on first read)
 *      state · root    the state parameter of the layer-0 component with the most dependents (transitively),
 *                      alternately a failed apply and a successful one: every flip moves its dependents' statuses
 *      output · root   an output of that same root component, bumped (its consumers become stale-inputs)
 *      state · root*   the same, worst case: every deployment downstream of the root made pending first (one
 *                      full build), so every flip blocks and unblocks all of them (50 updates)
 *      state · leaf    the state parameter of a component nothing depends on, a different one each update
 *    p50 / p99 / max over the updates, the deployments recomputed and the status changes per update.
 * 4. Memory: heap and RSS (after a forced GC) with the runtime only, then also holding the live state, then after
 *    all the updates (holding only the last state).
 * Target: < 50 ms per changed parameter. A missed target is printed as FAIL and the script exits 1.
 *
 * A script, never a timed test: timings depend on the machine and its load (the load average is printed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DirectorySource } from '../lib/adapters/fs/directory-source.ts';
import { DATABASE_FILE, openDatabase } from '../lib/adapters/local/database.ts';
import { LocalRuntimeStore } from '../lib/adapters/local/runtime-store.ts';
import { loadConfig, readRuntime } from '../lib/app/build.ts';
import { dagOf } from '../lib/core/dag.ts';
import { buildGraph, toSnapshot } from '../lib/core/graph.ts';
import { applyRuntimeChanges, type LiveState, type LiveUpdate } from '../lib/core/live.ts';
import { outputParamPath, stateParamPath } from '../lib/core/model.ts';
import type { Parameter } from '../lib/core/runtime.ts';
import { generateRepo } from './generate.ts';
import { seedRuntime } from './seed.ts';

const TARGET_MS = 50;
const MiB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Garbage collections as the runtime reports them (start and duration, ms on performance.now()'s clock). */
const collections: { start: number; duration: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) collections.push({ start: e.startTime, duration: e.duration });
}).observe({ entryTypes: ['gc'] });
const flushObservers = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));

interface Memory {
  readonly heap: number;
  readonly rss: number;
}
function memory(): Memory {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

interface CaseResult {
  readonly name: string;
  readonly what: string;
  readonly updates: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly recomputed: { readonly median: number; readonly max: number };
  readonly statusChanges: { readonly median: number; readonly max: number };
  readonly full: number;
  /** Of the updates slower than p50 × 10, how many had a garbage collection running during them, and the GC time in them. */
  readonly slow: { readonly count: number; readonly withGc: number; readonly gcMs: number };
  /** CPU time of the main thread during the update (process.threadCpuUsage): what the update itself cost, whatever else the machine ran. */
  readonly cpu: { readonly p50: number; readonly p99: number; readonly max: number; readonly mean: number };
  /** p99 and max of the update time minus the GC time within it. */
  readonly withoutGc: { readonly p99: number; readonly max: number };
}

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      components: { type: 'string', default: '5000' },
      envs: { type: 'string', default: '3' },
      seed: { type: 'string', default: '1' },
      updates: { type: 'string', default: '200' },
      dir: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const n = Number(values.components);
  const envCount = Number(values.envs);
  const updates = Number(values.updates);
  const say = (line: string): void => void process.stderr.write(`${line}\n`);
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'karma-bench-live-'));
  try {
    let t = performance.now();
    const repo = generateRepo({ components: n, envs: envCount, out: dir, seed: Number(values.seed) });
    say(`generated ${n} components × ${envCount} environments in ${Math.round(performance.now() - t)} ms`);
    t = performance.now();
    await seedRuntime(repo, { seed: Number(values.seed) });
    say(`seeded the runtime in ${Math.round(performance.now() - t)} ms`);
    const config = await loadConfig(new DirectorySource(dir));
    const db = openDatabase(join(dir, '.karma', DATABASE_FILE), { create: false });
    const runtime = await readRuntime(config, new LocalRuntimeStore(db));
    db.close();
    const prefix = config.project.parameterPrefix;
    const memRuntime = memory();

    // Full rebuild.
    const fullMs: number[] = [];
    let state: LiveState | undefined;
    for (let r = 0; r < 5; r++) {
      t = performance.now();
      const build = buildGraph(config, runtime, { builtAt: new Date().toISOString() });
      const snapshot = toSnapshot(build);
      fullMs.push(performance.now() - t);
      state = { build, snapshot, runtime };
    }
    const memLive = memory();
    let live = state!;
    const counts = { deployments: config.deployments.length, parameters: runtime.size, vertices: live.snapshot.vertices.length, edges: live.snapshot.edges.length };
    say(`full rebuild: ${fullMs.map((x) => Math.round(x)).join(' · ')} ms`);

    const dag = dagOf(config);
    const consumed = new Set<string>();
    for (const d of config.deployments) for (const r of d.references) if (r.kind === 'output') consumed.add(outputParamPath(prefix, r.env, r.component, r.output));
    const layerOf = new Map(repo.components.map((c) => [c.name, c.layer]));
    const maxLayer = Math.max(...layerOf.values());
    let clock = Date.parse('2026-12-01T00:00:00Z');
    const bump = (name: string, value?: string): Parameter => {
      const before = live.runtime.get(name);
      clock += 1000;
      return { name, value: value ?? `${before?.value ?? ''}-b${clock}`, version: (before?.version ?? 0) + 1, type: before?.type ?? 'String', lastModified: new Date(clock).toISOString() };
    };
    let readSnapshot = false;
    const step = (name: string, param: Parameter | null): [number, LiveUpdate] => {
      const started = performance.now();
      const update = applyRuntimeChanges(live, new Map([[name, param]]), { builtAt: new Date(clock).toISOString() });
      // The snapshot's arrays are made on first read: with readSnapshot, that read is part of the update.
      if (readSnapshot && update.snapshot.vertices.length + update.snapshot.edges.length === 0) throw new Error('empty snapshot');
      const ms = performance.now() - started;
      live = update;
      return [ms, update];
    };

    // The first update builds the per-config index (which parameter reaches which deployment): timed on its own.
    const warmName = [...consumed].find((p) => live.runtime.has(p))!;
    const [firstMs] = step(warmName, bump(warmName));

    const results: CaseResult[] = [];
    const measure = async (name: string, what: string, params: readonly (() => [string, Parameter | null])[]): Promise<void> => {
      const times: number[] = [];
      const spans: [number, number][] = [];
      const cpuTimes: number[] = [];
      const recomputed: number[] = [];
      const changes: number[] = [];
      let full = 0;
      for (const next of params) {
        const [p, v] = next();
        const cpuBefore = process.threadCpuUsage();
        const started = performance.now();
        const [ms, update] = step(p, v);
        const cpu = process.threadCpuUsage(cpuBefore);
        cpuTimes.push((cpu.user + cpu.system) / 1000);
        spans.push([started, started + ms]);
        times.push(ms);
        recomputed.push(update.recomputed);
        changes.push(update.statusChanges.length);
        if (update.full) full++;
      }
      await flushObservers();
      const gcIn = ([from, to]: [number, number]): number =>
        collections.reduce((sum, c) => sum + Math.max(0, Math.min(to, c.start + c.duration) - Math.max(from, c.start)), 0);
      const sorted = [...times].sort((a, b) => a - b);
      const p50 = quantile(sorted, 0.5);
      const slowOnes = spans.map((span, i) => ({ ms: times[i]!, gc: gcIn(span) })).filter((x) => x.ms > p50 * 10 && x.ms > 1);
      const net = spans.map((span, i) => times[i]! - gcIn(span)).sort((a, b) => a - b);
      const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      results.push({
        name,
        what,
        updates: times.length,
        p50,
        p99: quantile(sorted, 0.99),
        max: sorted[sorted.length - 1]!,
        recomputed: { median: med(recomputed), max: Math.max(...recomputed) },
        statusChanges: { median: med(changes), max: Math.max(...changes) },
        full,
        slow: { count: slowOnes.length, withGc: slowOnes.filter((x) => x.gc > 0).length, gcMs: slowOnes.reduce((sum, x) => sum + x.gc, 0) },
        cpu: (() => {
          const c = [...cpuTimes].sort((a, b) => a - b);
          return { p50: quantile(c, 0.5), p99: quantile(c, 0.99), max: c[c.length - 1]!, mean: c.reduce((a, b) => a + b, 0) / c.length };
        })(),
        withoutGc: { p99: quantile(net, 0.99), max: net[net.length - 1]! },
      });
      say(`${name}: done`);
    };

    // output · mid: distinct output parameters of middle-layer components that have consumers.
    const midLayer = Math.floor(maxLayer / 2);
    const midOutputs = config.deployments
      .filter((d) => layerOf.get(d.component) === midLayer)
      .flatMap((d) => config.components.get(d.component)!.outputs.map((o) => outputParamPath(prefix, d.env, d.component, o)))
      .filter((p) => consumed.has(p) && live.runtime.has(p));
    const pickEvenly = <T>(items: readonly T[], count: number): T[] => Array.from({ length: Math.min(count, items.length) }, (_, i) => items[Math.floor((i * items.length) / Math.min(count, items.length))]!);
    await measure(
      'output · mid',
      `${Math.min(updates, midOutputs.length)} different outputs of layer ${midLayer} of ${maxLayer} (consumed)`,
      pickEvenly(midOutputs, updates).map((p) => () => [p, bump(p)]),
    );

    // The same kind of update, with the snapshot read after each one (its arrays made: what a reader pays once).
    readSnapshot = true;
    await measure(
      'output · mid+r',
      `the same, other outputs of layer ${midLayer}, the snapshot read after each update`,
      pickEvenly(midOutputs.filter((_, i) => i % 2 === 1), updates).map((p) => () => [p, bump(p)]),
    );
    readSnapshot = false;

    // The root with the most dependents, transitively, whose state is a successful apply.
    const roots = config.deployments.filter((d) => dag.dependencies(`${d.env}/${d.component}`).length === 0 && live.build.statuses.get(`${d.env}/${d.component}`)!.status === 'in-sync');
    let root = roots[0]!;
    let rootReach = 0;
    for (const d of roots) {
      const reach = dag.downstream([`${d.env}/${d.component}`]).length - 1;
      if (reach > rootReach) [root, rootReach] = [d, reach];
    }
    const rootState = stateParamPath(prefix, root.env, root.component);
    const okState = live.runtime.get(rootState)!.value;
    const failedState = JSON.stringify({ ...(JSON.parse(okState) as object), result: 'failed', error: 'Error: creating resource: timeout' });
    await measure(
      'state · root',
      `${root.env}/${root.component}: failed, then applied again, alternately (${rootReach.toLocaleString('en-US')} deployments downstream)`,
      Array.from({ length: updates }, (_, i) => () => [rootState, bump(rootState, i % 2 === 0 ? failedState : okState)]),
    );
    const rootOutputs = config.components.get(root.component)!.outputs.map((o) => outputParamPath(prefix, root.env, root.component, o)).filter((p) => consumed.has(p));
    await measure(
      'output · root',
      `${root.env}/${root.component}: its consumed outputs bumped in turn (${rootOutputs.length})`,
      Array.from({ length: updates }, (_, i) => () => {
        const p = rootOutputs[i % rootOutputs.length]!;
        return [p, bump(p)];
      }),
    );

    // state · root, worst case: every deployment downstream of the root needs an apply (its state says an older
    // config), so every flip of the root moves all of them (blocked, then pending again). Set up with one full build.
    const downstream = dag.downstream([`${root.env}/${root.component}`]).filter((k) => k !== `${root.env}/${root.component}`);
    const worstRuntime = new Map(live.runtime);
    for (const key of downstream) {
      const [env, component] = key.split('/') as [string, string];
      const path = stateParamPath(prefix, env, component);
      const p = worstRuntime.get(path);
      if (p) worstRuntime.set(path, { ...p, value: JSON.stringify({ ...(JSON.parse(p.value) as object), configHash: 'an-older-config', result: 'success' }) });
    }
    const worstBuild = buildGraph(config, worstRuntime, { builtAt: new Date(clock).toISOString() });
    live = { build: worstBuild, snapshot: toSnapshot(worstBuild), runtime: worstRuntime };
    await measure(
      'state · root*',
      `the same root, every deployment downstream of it pending: each flip moves them all`,
      Array.from({ length: Math.min(updates, 50) }, (_, i) => () => [rootState, bump(rootState, i % 2 === 0 ? failedState : okState)]),
    );

    // state · leaf: deployments nothing depends on, a different one each update, alternately failed and applied.
    const leaves = config.deployments.filter((d) => dag.dependents(`${d.env}/${d.component}`).length === 0 && live.runtime.has(stateParamPath(prefix, d.env, d.component)));
    await measure(
      'state · leaf',
      `${Math.min(updates, leaves.length)} different leaf deployments (of ${leaves.length.toLocaleString('en-US')}), state failed`,
      pickEvenly(leaves, updates).map((d) => () => {
        const p = stateParamPath(prefix, d.env, d.component);
        return [p, bump(p, JSON.stringify({ ...(JSON.parse(live.runtime.get(p)!.value) as object), result: 'failed', error: 'Error: x' }))];
      }),
    );

    // Build.graph is lazy: the first use after an update builds the graphology graph of the new Build.
    t = performance.now();
    const order = live.build.graph.order;
    const graphMs = performance.now() - t;
    const memAfter = memory();
    const checks = results.map((r) => ({ name: r.name, ok: r.p99 < TARGET_MS, detail: `p99 ${r.p99.toFixed(1)} ms (target < ${TARGET_MS} ms)` }));

    const report = {
      date: new Date().toISOString(),
      machine: `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.versions.node}, load average ${loadavg()[0]!.toFixed(2)}`,
      counts,
      fullMs,
      firstMs,
      graphMs,
      graphOrder: order,
      results,
      memory: { runtime: memRuntime, live: memLive, after: memAfter },
      checks,
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const f = (x: number): string => (x < 10 ? x.toFixed(2) : x.toFixed(1));
      const sortedFull = [...fullMs].sort((a, b) => a - b);
      const lines = [
        `live graph update — ${counts.deployments.toLocaleString('en-US')} deployments, ${counts.parameters.toLocaleString('en-US')} parameters, ${counts.vertices.toLocaleString('en-US')} vertices, ${counts.edges.toLocaleString('en-US')} edges`,
        report.machine,
        '',
        `full rebuild (buildGraph + toSnapshot): median ${Math.round(sortedFull[2]!)} ms, min ${Math.round(sortedFull[0]!)} ms (5 runs)`,
        `first incremental update (builds the per-config parameter index once): ${f(firstMs)} ms`,
        '',
        `${'case'.padEnd(14)} ${'updates'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'recomputed'.padStart(12)} ${'status chg'.padStart(11)}  what`,
        ...results.map(
          (r) =>
            `${r.name.padEnd(14)} ${String(r.updates).padStart(7)} ${f(r.p50).padStart(8)} ${f(r.p99).padStart(8)} ${f(r.max).padStart(8)} ${`${r.recomputed.median} / ${r.recomputed.max}`.padStart(12)} ${`${r.statusChanges.median} / ${r.statusChanges.max}`.padStart(11)}  ${r.what}${r.full ? ` (${r.full} full)` : ''}`,
        ),
        `${''.padEnd(14)} recomputed and status chg: median / max per update`,
        '',
        'main-thread CPU time per update (process.threadCpuUsage: not counting the time other processes took the CPU away)',
        ...results.map((r) => `${r.name.padEnd(14)} mean ${f(r.cpu.mean)} ms, p50 ${f(r.cpu.p50)} ms, p99 ${f(r.cpu.p99)} ms, max ${f(r.cpu.max)} ms`),
        '(the kernel accounts thread CPU time in ticks: single values are coarse, the mean is not)',
        '',
        'garbage collection: the slow updates (> 10 × p50) and the GC pauses inside them; p99 / max with the GC time taken out',
        ...results.map(
          (r) =>
            `${r.name.padEnd(14)} ${r.slow.count} slow, ${r.slow.withGc} of them with a GC inside (${Math.round(r.slow.gcMs)} ms of GC); without GC: p99 ${f(r.withoutGc.p99)} ms, max ${f(r.withoutGc.max)} ms`,
        ),
        '',
        `Build.graph (graphology) on first use after an update: ${Math.round(graphMs)} ms (${order.toLocaleString('en-US')} nodes)`,
        `memory (after GC)    heap ${Math.round(memRuntime.heap / MiB)} MiB, RSS ${Math.round(memRuntime.rss / MiB)} MiB with config + runtime`,
        `                     heap ${Math.round(memLive.heap / MiB)} MiB, RSS ${Math.round(memLive.rss / MiB)} MiB also holding the live state (+${Math.round((memLive.heap - memRuntime.heap) / MiB)} MiB heap)`,
        `                     heap ${Math.round(memAfter.heap / MiB)} MiB, RSS ${Math.round(memAfter.rss / MiB)} MiB after ${results.reduce((s, r) => s + r.updates, 0) + 1} updates, holding the last state (and its graphology graph)`,
        '',
        ...checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    if (checks.some((c) => !c.ok)) process.exitCode = 1;
  } finally {
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
