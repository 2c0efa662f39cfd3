/**
 * `npm run bench`: the `graph build` benchmark on the local backend (issues 2 and 11).
 *
 *   node bench/graph-build.ts [--components 5000] [--envs 3] [--seed 1] [--runs 3] [--baseline CHECKOUT] [--dir DIR [--reuse]] [--write-docs] [--json]
 *
 * 1. Generates a synthetic config repo (bench/generate.ts) into a temporary directory (or --dir; with --reuse, a
 *    repo already generated there is kept) and seeds its local runtime with a realistic history of applies
 *    (bench/seed.ts). The seeded database is the template of every store below: runtime in it, graph empty.
 * 2. The goal of issue 11, measured in the same run, --runs rounds (default 3), alternating which goes first:
 *      floor  a separate Node process that only reads the same files and parses the config files
 *             (bench/build-floor.ts: the walk of DirectorySource, JSON.parse / Karma's YAML parser, nothing else);
 *      build  a real `karma graph build --config DIR --store FRESH` process (bin/karma.ts), on a fresh copy of the
 *             template store each time: process start, read, parse, validate, runtime, graph, statuses, order,
 *             the first full store write, the history record and the printed tables (piped, discarded);
 *      start  `karma --version` and `node -e 0` beside them, to tell process start-up from the build;
 *      before with --baseline CHECKOUT (another checkout of Karma, e.g. `git worktree add /tmp/base main`), its
 *             `karma graph build` in the same rounds on a fresh store of its own: before/after on one machine state.
 *    Wall time is taken by this process around each child; peak RSS is the child's own
 *    process.resourceUsage().maxRSS, reported at exit through a one-line --import hook.
 *    Goal: the build's median ≤ 2× the floor's median, under 3 s, peak RSS under 1 GiB. A missed goal is printed
 *    as FAIL and the script exits 1.
 * 3. In one more child, the in-process phases of the same build, timed one by one:
 *      read files · parse + validate · runtime merge · graph + statuses · snapshot (hash every element) ·
 *      order (planEnv for every environment)
 *    then the first full write to an empty graph store, a rebuild after ONE component's input changed, whose
 *    write must send only the changed elements (checked against diffSnapshots), and a write of an unchanged build
 *    (nothing sent).
 * 4. Prints a table; with --write-docs, replaces the "graph build (local backend)" section of docs/benchmarks.md.
 *    `--json > FILE` keeps the whole report; `--report FILE [--write-docs]` prints (and writes) it again without
 *    measuring anything.
 *
 * A script, never a timed test: timings depend on the machine and its load (the load average is printed).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DATABASE_FILE, openDatabase } from '../lib/adapters/local/database.ts';
import { LocalGraphStore } from '../lib/adapters/local/graph-store.ts';
import { LocalRuntimeStore } from '../lib/adapters/local/runtime-store.ts';
import { DirectorySource } from '../lib/adapters/fs/directory-source.ts';
import { readRuntime } from '../lib/app/build.ts';
import { parseConfig } from '../lib/core/config.ts';
import { buildGraph, toSnapshot } from '../lib/core/graph.ts';
import { orderAll, planEnv } from '../lib/core/order.ts';
import { diffSnapshots, type GraphSnapshot, type WriteStats } from '../lib/core/snapshot.ts';
import { generateRepo } from './generate.ts';
import { seedRuntime, type SeedStats } from './seed.ts';
import { machine, writeBenchmarksSection } from './report.ts';

const MiB = 1024 * 1024;
const TARGET_MS = 3000;
const TARGET_RSS = 1024 * MiB;
/** The build may take at most this many times the floor (read + parse of the same files). */
const TARGET_RATIO = 2;

interface Phase {
  readonly name: string;
  readonly ms: number;
  /** CPU time (user + system) of the process during the phase: less sensitive than wall time to a busy machine. */
  readonly cpuMs: number;
  /** RSS right after the phase. */
  readonly rss: number;
  readonly heap: number;
}

interface WriteFigures {
  readonly stats: WriteStats;
  readonly writeMs: number;
  readonly recordMs: number;
}

interface Measurement {
  readonly phases: Phase[];
  readonly totalMs: number;
  readonly totalCpuMs: number;
  /** Load average (1 min) when the build started and when it ended. */
  readonly load: [number, number];
  /** Peak RSS of the child up to the end of the build phases (resourceUsage().maxRSS). */
  readonly buildPeakRss: number;
  readonly peakRss: number;
  readonly counts: Record<string, number>;
  readonly statuses: Record<string, number>;
  readonly waves: Record<string, { planned: number; waves: number; allWaves: number }>;
  readonly orderAllMs: number;
  readonly full: WriteFigures;
  readonly changed: {
    readonly component: string;
    readonly file: string;
    readonly rebuildMs: number;
    readonly write: WriteFigures;
    readonly diff: { added: number; removed: number; changed: string[] };
  };
  readonly unchanged: WriteFigures;
}

const mb = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`;
const ms = (n: number): string => `${Math.round(n).toLocaleString('en-US')} ms`;
const count = (n: number | undefined): string => (n ?? 0).toLocaleString('en-US');

/** The child: builds the graph of the repo in `dir` with the store `dbFile` (its graph empty) and writes it, timing every phase. */
async function measure(dir: string, dbFile: string): Promise<Measurement> {
  const phases: Phase[] = [];
  const loadBefore = loadavg()[0]!;
  let mark = performance.now();
  let cpu = process.cpuUsage();
  const phase = (name: string): void => {
    const now = performance.now();
    const used = process.cpuUsage(cpu);
    const mem = process.memoryUsage();
    phases.push({ name, ms: now - mark, cpuMs: (used.user + used.system) / 1000, rss: mem.rss, heap: mem.heapUsed });
    mark = performance.now();
    cpu = process.cpuUsage();
  };

  const source = new DirectorySource(dir);
  const loaded = await source.load();
  phase('read files');
  const config = parseConfig(loaded.files, { source: source.description }, loaded.problems);
  phase('parse + validate');
  const db = openDatabase(dbFile, { create: false });
  const runtime = new LocalRuntimeStore(db);
  const params = await readRuntime(config, runtime);
  phase('runtime merge');
  const build = buildGraph(config, params, { builtAt: new Date().toISOString() });
  phase('graph + statuses');
  const snapshot = toSnapshot(build);
  phase('snapshot (hashes)');
  const envs = [...config.project.environments.keys()];
  const plans = envs.map((env) => planEnv(build, env));
  phase('order (planEnv × env)');
  const totalMs = phases.reduce((s, p) => s + p.ms, 0);
  const totalCpuMs = phases.reduce((s, p) => s + p.cpuMs, 0);
  const load: [number, number] = [loadBefore, loadavg()[0]!];
  const buildPeakRss = process.resourceUsage().maxRSS * 1024;

  const t = performance.now();
  const all = envs.map((env) => orderAll(build, env));
  const orderAllMs = performance.now() - t;

  const statuses: Record<string, number> = {};
  for (const s of build.statuses.values()) statuses[s.status] = (statuses[s.status] ?? 0) + 1;
  const counts = {
    files: loaded.files.length,
    components: config.components.size,
    deployments: config.deployments.length,
    parameters: params.size,
    vertices: snapshot.vertices.length,
    edges: snapshot.edges.length,
  };
  const waves = Object.fromEntries(
    envs.map((env, i) => [env, { planned: plans[i]!.waves.flat().length, waves: plans[i]!.waves.length, allWaves: all[i]!.waves.length }]),
  );

  const graph = new LocalGraphStore(db);
  const write = async (s: GraphSnapshot): Promise<WriteFigures> => {
    const t0 = performance.now();
    const stats = await graph.write(s);
    const t1 = performance.now();
    await graph.recordBuild(s, stats);
    return { stats, writeMs: t1 - t0, recordMs: performance.now() - t1 };
  };
  const full = await write(snapshot);

  // One component's input changes: an in-sync component in the last environment, in the middle of the graph.
  const lastEnv = envs[envs.length - 1]!;
  const candidates = config.deployments.filter((d) => d.env === lastEnv && build.statuses.get(`${d.env}/${d.component}`)!.status === 'in-sync');
  const target = candidates[Math.floor(candidates.length / 2)]!;
  const file = join(dir, target.file);
  const original = readFileSync(file, 'utf8');
  const inputs = JSON.parse(original) as Record<string, unknown>;
  inputs['tags'] = { ...(inputs['tags'] as Record<string, unknown>), changed_by: 'bench' };
  writeFileSync(file, `${JSON.stringify(inputs, null, 2)}\n`);
  let rebuilt: GraphSnapshot;
  let rebuildMs: number;
  try {
    const t0 = performance.now();
    const again = await source.load();
    const config2 = parseConfig(again.files, { source: source.description }, again.problems);
    const params2 = await readRuntime(config2, runtime);
    rebuilt = toSnapshot(buildGraph(config2, params2, { builtAt: new Date().toISOString() }));
    rebuildMs = performance.now() - t0;
  } finally {
    writeFileSync(file, original);
  }
  const diff = diffSnapshots(snapshot, rebuilt);
  const changedWrite = await write(rebuilt);
  const unchanged = await write(rebuilt);
  db.close();

  return {
    phases,
    totalMs,
    totalCpuMs,
    load,
    buildPeakRss,
    peakRss: process.resourceUsage().maxRSS * 1024,
    counts,
    statuses,
    waves,
    orderAllMs,
    full,
    changed: {
      component: `${target.env}/${target.component}`,
      file: target.file,
      rebuildMs,
      write: changedWrite,
      diff: { added: diff.added.length, removed: diff.removed.length, changed: diff.changed.map((c) => c.id) },
    },
    unchanged,
  };
}

/** One child process: wall time taken around it by this process, peak RSS reported by the child itself. */
interface ChildRun {
  readonly wallMs: number;
  readonly maxRss: number;
  /** User + system CPU time of the child: far less sensitive than wall time to other work on the machine. */
  readonly cpuMs: number;
}

interface Rounds {
  readonly runs: number;
  readonly floor: ChildRun[];
  readonly build: ChildRun[];
  /** --baseline: the other checkout's build, in the same rounds (empty without it). */
  readonly baseline: ChildRun[];
  readonly baselineDir?: string;
  readonly version: ChildRun[];
  readonly node: ChildRun[];
  /** What the floor process did (the same in every run). */
  readonly floorWork: { files: number; parsed: number; bytes: number };
  /** The CLI's own summary line of its store write (the same in every run). */
  readonly buildSummary: string;
  /** Load average (1 min) before the first and after the last round. */
  readonly load: [number, number];
}

interface Report {
  readonly date: string;
  readonly machine: string;
  readonly args: { components: number; envs: number; seed: number };
  readonly generateMs: number;
  readonly generated: { files: number; bytes: number };
  readonly seed: SeedStats;
  readonly rounds: Rounds;
  readonly m: Measurement;
  readonly checks: { name: string; ok: boolean; detail: string }[];
}


const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const wall = (runs: readonly ChildRun[]): number => median(runs.map((r) => r.wallMs));
const spread = (runs: readonly ChildRun[]): string => runs.map((r) => Math.round(r.wallMs).toLocaleString('en-US')).join(' · ');
const ratioOf = (r: Rounds): number => wall(r.build) / wall(r.floor);
const cpu = (runs: readonly ChildRun[]): number => median(runs.map((r) => r.cpuMs));
const peakOf = (runs: readonly ChildRun[]): number => Math.max(...runs.map((r) => r.maxRss));

/**
 * Reports the child's peak RSS and CPU time on stderr when it exits, whatever it is (the CLI, the floor): loaded with --import
 * before the child's own code, so nothing in the child has to know about the benchmark.
 */
const RSS_MARK = '@@karma-bench-usage ';
const RSS_HOOK = `data:text/javascript,${encodeURIComponent(`process.on('exit', () => { const u = process.resourceUsage(); process.stderr.write('\\n${RSS_MARK}' + u.maxRSS * 1024 + ' ' + (u.userCPUTime + u.systemCPUTime) / 1000 + '\\n'); });`)}`;

function runChild(args: readonly string[], what: string): ChildRun & { stdout: string } {
  const started = performance.now();
  const child = spawnSync(process.execPath, ['--import', RSS_HOOK, ...args], { encoding: 'utf8', maxBuffer: 256 * MiB });
  const wallMs = performance.now() - started;
  if (child.status !== 0) throw new Error(`${what} failed (exit ${child.status ?? child.signal}):\n${child.stderr}`);
  const usage = new RegExp(`${RSS_MARK}(\\d+) ([\\d.]+)`).exec(child.stderr);
  if (!usage) throw new Error(`${what}: no resource usage reported on stderr:\n${child.stderr}`);
  return { wallMs, maxRss: Number(usage[1]), cpuMs: Number(usage[2]), stdout: child.stdout };
}

/**
 * The goal's rounds: floor and build alternate (which goes first flips every round, so a load that grows or
 * fades during the run weighs on both alike); every build gets a fresh copy of the template store.
 */
function rounds(dir: string, template: string, runs: number, work: string, baselineDir?: string): Rounds {
  const karma = join(import.meta.dirname, '..', 'bin', 'karma.ts');
  const floorScript = join(import.meta.dirname, 'build-floor.ts');
  const result: Rounds = { runs, floor: [], build: [], baseline: [], ...(baselineDir ? { baselineDir } : {}), version: [], node: [], floorWork: { files: 0, parsed: 0, bytes: 0 }, buildSummary: '', load: [loadavg()[0]!, 0] };
  let floorWork = result.floorWork;
  let buildSummary = '';
  const floor = (): void => {
    const run = runChild([floorScript, dir], 'the floor (bench/build-floor.ts)');
    const out = JSON.parse(run.stdout) as { files: number; parsed: number; bytes: number };
    floorWork = { files: out.files, parsed: out.parsed, bytes: out.bytes };
    result.floor.push({ wallMs: run.wallMs, maxRss: run.maxRss, cpuMs: run.cpuMs });
  };
  const build = (i: number, checkout?: string): void => {
    const store = join(work, `store-${i}${checkout ? '-baseline' : ''}`);
    mkdirSync(store, { recursive: true, mode: 0o700 });
    copyFileSync(template, join(store, DATABASE_FILE));
    try {
      const bin = checkout ? join(checkout, 'bin', 'karma.ts') : karma;
      const run = runChild([bin, 'graph', 'build', '--config', dir, '--store', store], `karma graph build${checkout ? ` (${checkout})` : ''}`);
      const line = /store: build #\d+: .*/.exec(run.stdout)?.[0];
      if (!line) throw new Error(`karma graph build printed no store line:\n${run.stdout.slice(0, 2000)}`);
      if (checkout) {
        result.baseline.push({ wallMs: run.wallMs, maxRss: run.maxRss, cpuMs: run.cpuMs });
        return;
      }
      buildSummary = line.replace(/ \(local store .*\)$/, '');
      result.build.push({ wallMs: run.wallMs, maxRss: run.maxRss, cpuMs: run.cpuMs });
    } finally {
      rmSync(store, { recursive: true, force: true });
    }
  };
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`round ${i + 1}/${runs}\n`);
    if (i % 2 === 0) {
      floor();
      build(i);
      if (baselineDir) build(i, baselineDir);
    } else {
      if (baselineDir) build(i, baselineDir);
      build(i);
      floor();
    }
    const version = runChild([karma, '--version'], 'karma --version');
    result.version.push({ wallMs: version.wallMs, maxRss: version.maxRss, cpuMs: version.cpuMs });
    const node = runChild(['-e', '0'], 'node -e 0');
    result.node.push({ wallMs: node.wallMs, maxRss: node.maxRss, cpuMs: node.cpuMs });
  }
  return { ...result, floorWork, buildSummary, load: [result.load[0], loadavg()[0]!] };
}

function checks(r: Rounds, m: Measurement): Report['checks'] {
  const c = m.changed;
  const w = c.write.stats;
  const ratio = ratioOf(r);
  return [
    {
      name: `graph build ≤ ${TARGET_RATIO}× the floor (medians of ${r.runs})`,
      ok: ratio <= TARGET_RATIO,
      detail: `${ratio.toFixed(2)}× (${ms(wall(r.build))} / ${ms(wall(r.floor))})`,
    },
    { name: `graph build under ${TARGET_MS / 1000} s (median of ${r.runs})`, ok: wall(r.build) < TARGET_MS, detail: `${ms(wall(r.build))} (runs: ${spread(r.build)} ms)` },
    { name: 'graph build peak RSS under 1 GiB', ok: peakOf(r.build) < TARGET_RSS, detail: `${mb(peakOf(r.build))} (highest of ${r.runs})` },
    {
      name: 'one-change rebuild writes only the changed elements',
      ok: w.added === c.diff.added && w.deleted === c.diff.removed && w.updated === c.diff.changed.length && w.added + w.updated + w.deleted > 0 && w.requests === 2 + w.added + w.updated + w.deleted,
      detail: `diff: ${c.diff.changed.length} changed (${c.diff.changed.join(', ')}), ${c.diff.added} added, ${c.diff.removed} removed; written: ${w.updated} updated, ${w.added} added, ${w.deleted} deleted in ${w.requests} statements`,
    },
    { name: 'unchanged rebuild writes nothing', ok: m.unchanged.stats.added + m.unchanged.stats.updated + m.unchanged.stats.deleted === 0, detail: `${m.unchanged.stats.requests} statements (the two reads)` },
  ];
}

function roundRows(r: Rounds): [string, string, string][] {
  const row = (label: string, runs: readonly ChildRun[]): [string, string, string] => [label, ms(wall(runs)), `runs ${spread(runs)} ms; CPU ${ms(cpu(runs))}; peak RSS ${mb(peakOf(runs))}`];
  return [
    row('floor: read + parse (bench/build-floor.ts)', r.floor),
    row('karma graph build (fresh store)', r.build),
    ['ratio build / floor', `${ratioOf(r).toFixed(2)}×`, `goal ≤ ${TARGET_RATIO}×; in CPU time ${(cpu(r.build) / cpu(r.floor)).toFixed(2)}×`],
    ...(r.baseline.length > 0 ? [row(`baseline build (${r.baselineDir})`, r.baseline), ['ratio baseline / floor', `${(wall(r.baseline) / wall(r.floor)).toFixed(2)}×`, `in CPU time ${(cpu(r.baseline) / cpu(r.floor)).toFixed(2)}×`] as [string, string, string]] : []),
    row('karma --version (start-up alone)', r.version),
    row('node -e 0', r.node),
  ];
}

function tableText(r: Report): string {
  const m = r.m;
  const rows: [string, string, string][] = m.phases.map((p) => [p.name, ms(p.ms), `${ms(p.cpuMs).padStart(9)} CPU   ${mb(p.rss)}`]);
  rows.push(['total (in process)', ms(m.totalMs), `${ms(m.totalCpuMs).padStart(9)} CPU   peak ${mb(m.buildPeakRss)}`]);
  const w = (label: string, f: WriteFigures): [string, string, string] => [
    label,
    ms(f.writeMs),
    `${f.stats.added} added, ${f.stats.updated} updated, ${f.stats.deleted} deleted, ${f.stats.unchanged} unchanged; ${f.stats.requests} statements; history record ${ms(f.recordMs)}`,
  ];
  const lines = [
    `graph build (local backend): ${r.args.components} components × ${r.args.envs} environments, seed ${r.args.seed}`,
    `machine: ${r.machine}`,
    `repo: ${r.generated.files} files, ${(r.generated.bytes / 1e6).toFixed(1)} MB (${r.generateMs > 0 ? `generated in ${ms(r.generateMs)}` : "generated by an earlier run, --reuse"}); runtime: ${r.seed.parameters} parameters, ${r.seed.versions} versions from ${r.seed.applies} applies (recordApply, ${r.seed.mode}: ${ms(r.seed.recordMs)} + flush ${ms(r.seed.flushMs)})`,
    `graph: ${m.counts['deployments']} deployments, ${m.counts['vertices']} vertices, ${m.counts['edges']} edges; statuses ${Object.entries(m.statuses).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '',
    ...formatRows(['process (median wall time)', 'wall', 'details'], roundRows(r.rounds)),
    `  floor: ${r.rounds.floorWork.files} files read, ${r.rounds.floorWork.parsed} parsed; build: ${r.rounds.buildSummary}; load average ${r.rounds.load[0].toFixed(2)} before, ${r.rounds.load[1].toFixed(2)} after`,
    '',
    `waves (to apply / all): ${Object.entries(m.waves).map(([env, x]) => `${env} ${x.planned} in ${x.waves} / ${x.allWaves}`).join('; ')}; orderAll for every env ${ms(m.orderAllMs)} (not in the total)`,
    ...formatRows(['phase (in process, one run)', 'wall', `${'CPU'.padStart(13)}   RSS after`], rows),
    `  load average (1 min) ${m.load[0].toFixed(2)} at the start of the build, ${m.load[1].toFixed(2)} at its end (2 cores: above ~1.5, wall time includes waiting for the CPU)`,
    '',
    ...formatRows(['store write', 'time', 'what was sent'], [
      w('first full write', m.full),
      [`rebuild after one input changed (${m.changed.component})`, ms(m.changed.rebuildMs), 'read + parse + runtime + graph + snapshot'],
      w('write of that rebuild', m.changed.write),
      w('write of an unchanged rebuild', m.unchanged),
    ]),
    '',
    `peak RSS of the whole in-process child (build + writes): ${mb(m.peakRss)}`,
    ...r.checks.map((c) => `${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`),
  ];
  return lines.join('\n');
}

function formatRows(header: [string, string, string], rows: [string, string, string][]): string[] {
  const all = [header, ...rows];
  const w0 = Math.max(...all.map((r) => r[0].length));
  const w1 = Math.max(...all.map((r) => r[1].length));
  return all.map((r) => `  ${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`);
}

function markdown(r: Report): string {
  const m = r.m;
  const k = r.rounds;
  const row = (...cells: string[]): string => `| ${cells.join(' | ')} |`;
  const wr = (label: string, f: WriteFigures): string =>
    row(label, ms(f.writeMs), count(f.stats.added), count(f.stats.updated), count(f.stats.deleted), count(f.stats.unchanged), count(f.stats.requests));
  const pr = (label: string, runs: readonly ChildRun[]): string => row(label, `**${ms(wall(runs))}**`, `${spread(runs)} ms`, ms(cpu(runs)), mb(peakOf(runs)));
  return [
    '## graph build (local backend)',
    '',
    `Measured ${r.date} with \`npm run bench -- --write-docs\` (bench/graph-build.ts) on ${r.machine}.`,
    `Synthetic repo (bench/generate.ts, seed ${r.args.seed}): ${count(r.args.components)} components × ${r.args.envs} environments, ${count(r.generated.files)} files,`,
    `${count(m.counts['deployments'])} deployments; runtime seeded through recordApply (bench/seed.ts, batched): ${count(r.seed.parameters)} parameters, ${count(r.seed.versions)} versions from ${count(r.seed.applies)} applies.`,
    `Graph: ${count(m.counts['vertices'])} vertices, ${count(m.counts['edges'])} edges; statuses ${Object.entries(m.statuses).map(([k, v]) => `${k} ${count(v)}`).join(', ')}.`,
    '',
    `Whole processes, ${k.runs} rounds, floor and build alternating (wall time around the child; peak RSS from the child's own resourceUsage):`,
    '',
    row('process', 'median wall time', 'runs', 'median CPU time', 'peak RSS'),
    row('---', '---:', '---', '---:', '---:'),
    pr(`floor: read the ${count(k.floorWork.files)} files and parse the ${count(k.floorWork.parsed)} config files (bench/build-floor.ts)`, k.floor),
    pr('`karma graph build` on a fresh store (everything: start-up, build, first full write, history record, tables printed)', k.build),
    ...(k.baseline.length > 0 ? [pr(`before: the same \`karma graph build\` from ${k.baselineDir} (--baseline), same rounds`, k.baseline)] : []),
    pr('`karma --version` (start-up alone)', k.version),
    pr('`node -e 0`', k.node),
    '',
    `**Ratio build / floor: ${ratioOf(k).toFixed(2)}×** (goal ≤ ${TARGET_RATIO}×; in CPU time ${(cpu(k.build) / cpu(k.floor)).toFixed(2)}×). ${r.checks.slice(0, 3).map((c) => `${c.ok ? 'Met' : 'NOT met'}: ${c.name} (${c.detail})`).join('; ')}.`,
    `The build's store line: ${k.buildSummary}. Load average (1 min): ${k.load[0].toFixed(2)} before the rounds, ${k.load[1].toFixed(2)} after.`,
    '',
    'The same build in one process, phase by phase (one run; the CLI adds start-up, the history record and the printed tables):',
    '',
    row('phase', 'wall time', 'CPU time', 'RSS after'),
    row('---', '---:', '---:', '---:'),
    ...m.phases.map((p) => row(p.name, ms(p.ms), ms(p.cpuMs), mb(p.rss))),
    row('**total (in process)**', `**${ms(m.totalMs)}**`, `**${ms(m.totalCpuMs)}**`, `**peak ${mb(m.buildPeakRss)}**`),
    '',
    `Load average (1 min): ${m.load[0].toFixed(2)} when the build started, ${m.load[1].toFixed(2)} when it ended; on 2 cores, wall time above CPU time is time spent waiting for a core.`,
    `orderAll for every environment (not in the total): ${ms(m.orderAllMs)}. Peak RSS of that process including the writes: ${mb(m.peakRss)}.`,
    '',
    row('store write', 'time', 'added', 'updated', 'deleted', 'unchanged', 'statements'),
    row('---', '---:', '---:', '---:', '---:', '---:', '---:'),
    wr('first full write (empty store)', m.full),
    wr(`rebuild after one input changed (${m.changed.component})`, m.changed.write),
    wr('unchanged rebuild', m.unchanged),
    '',
    `The one-change rebuild (read + parse + runtime + graph + snapshot) took ${ms(m.changed.rebuildMs)}; diffSnapshots against the previous build: ${m.changed.diff.changed.length} changed (${m.changed.diff.changed.map((id) => `\`${id}\``).join(', ')}), ${m.changed.diff.added} added, ${m.changed.diff.removed} removed — exactly what the store wrote.`,
    'Statements = the two reads of ids and hashes + one per upserted or deleted element. Recording the build in the history (compressed snapshot) is extra:',
    `${ms(m.full.recordMs)} for the first build.`,
    '',
  ].join('\n');
}


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      components: { type: 'string', default: '5000' },
      envs: { type: 'string', default: '3' },
      seed: { type: 'string', default: '1' },
      runs: { type: 'string', default: '3' },
      baseline: { type: 'string' },
      report: { type: 'string' },
      dir: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      measure: { type: 'string' },
      store: { type: 'string' },
      'write-docs': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.measure) {
    process.stdout.write(`${JSON.stringify(await measure(values.measure, values.store!))}\n`);
    return;
  }
  if (values.report) {
    const saved = JSON.parse(readFileSync(values.report, 'utf8')) as Report;
    process.stdout.write(`${tableText(saved)}\n`);
    if (values['write-docs']) process.stderr.write(`wrote ${writeBenchmarksSection('## graph build (local backend)', markdown(saved))}\n`);
    return;
  }
  const args = { components: Number(values.components), envs: Number(values.envs), seed: Number(values.seed) };
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'karma-bench-'));
  const work = mkdtempSync(join(tmpdir(), 'karma-bench-stores-'));
  const startMachine = machine();
  const template = join(dir, '.karma', DATABASE_FILE);
  try {
    let generateMs = 0;
    let generated: Report['generated'];
    let seed: SeedStats;
    const info = join(dir, '.karma', 'bench-repo.json');
    if (values.reuse && existsSync(info) && existsSync(template)) {
      process.stderr.write(`reusing the repo in ${dir}\n`);
      ({ generated, seed } = JSON.parse(readFileSync(info, 'utf8')) as { generated: Report['generated']; seed: SeedStats });
    } else {
      process.stderr.write(`generating ${args.components} × ${args.envs} into ${dir}\n`);
      const t0 = performance.now();
      const repo = generateRepo({ ...args, out: dir });
      generateMs = performance.now() - t0;
      process.stderr.write('seeding the runtime (recordApply)\n');
      seed = await seedRuntime(repo, { seed: args.seed });
      generated = { files: repo.files, bytes: repo.bytes };
      writeFileSync(info, JSON.stringify({ args, generated, seed }));
    }
    process.stderr.write(`${runs} rounds: the floor and karma graph build in fresh processes\n`);
    const measured = rounds(dir, template, runs, work, values.baseline);
    process.stderr.write('the phases, in one process\n');
    const store = join(work, 'phases');
    mkdirSync(store, { recursive: true, mode: 0o700 });
    copyFileSync(template, join(store, DATABASE_FILE));
    const child = runChild([join(import.meta.dirname, 'graph-build.ts'), '--measure', dir, '--store', join(store, DATABASE_FILE)], 'measuring the phases');
    const m = JSON.parse(child.stdout.trim().split('\n').pop()!) as Measurement;
    const report: Report = {
      date: new Date().toISOString().slice(0, 10),
      machine: startMachine,
      args,
      generateMs,
      generated,
      seed,
      rounds: measured,
      m,
      checks: checks(measured, m),
    };
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${tableText(report)}\n`);
    if (values['write-docs']) process.stderr.write(`wrote ${writeBenchmarksSection('## graph build (local backend)', markdown(report))}\n`);
    const missed = report.checks.filter((c) => !c.ok);
    if (missed.length > 0) {
      process.stderr.write(`GOAL MISSED: ${missed.map((c) => c.name).join('; ')}\n`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
