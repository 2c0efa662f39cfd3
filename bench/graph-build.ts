/**
 * `npm run bench`: the `graph build` benchmark on the local backend (issue 2, "Quality bars").
 *
 *   node bench/graph-build.ts [--components 5000] [--envs 3] [--seed 1] [--dir DIR] [--write-docs]
 *
 * 1. Generates a synthetic config repo (bench/generate.ts) into a temporary directory (or --dir) and seeds its
 *    local runtime with a realistic history of applies (bench/seed.ts).
 * 2. Runs the build in a fresh child process (so its peak RSS is the build's alone, measured by the child with
 *    process.resourceUsage().maxRSS and, when present, by /usr/bin/time -v around it), timing each phase:
 *      read files · parse + validate · runtime merge · graph + statuses · snapshot (hash every element) ·
 *      order (planEnv for every environment)
 *    Target: under 3 s in total and under 1 GiB RSS for 5,000 components × 3 environments on 2 cores.
 * 3. In the same child: the first full write to an empty graph store, then a rebuild after ONE component's input
 *    changed, whose write must send only the changed elements (checked against diffSnapshots), then a write of an
 *    unchanged build (nothing sent).
 * 4. Prints a table; with --write-docs, replaces the "graph build (local backend)" section of docs/benchmarks.md.
 *
 * A script, never a timed test: timings depend on the machine and its load.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
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

const MiB = 1024 * 1024;
const TARGET_MS = 3000;
const TARGET_RSS = 1024 * MiB;

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

/** The child: builds the graph of the repo in `dir` and writes it, timing every phase. */
async function measure(dir: string): Promise<Measurement> {
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
  const db = openDatabase(join(dir, '.karma', DATABASE_FILE), { create: false });
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

  // Store: start from an empty graph (a re-run with --dir must measure a first write again).
  db.exec('DELETE FROM edges; DELETE FROM vertices; DELETE FROM builds;');
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

interface Report {
  readonly date: string;
  readonly machine: string;
  readonly args: { components: number; envs: number; seed: number };
  readonly generateMs: number;
  readonly generated: { files: number; bytes: number };
  readonly seed: SeedStats;
  readonly m: Measurement;
  readonly timeMaxRss?: number;
  readonly checks: { name: string; ok: boolean; detail: string }[];
}

function machine(): string {
  const c = cpus();
  return `${c.length} cores (${c[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.versions.node}, load average ${loadavg()[0]!.toFixed(2)} at start`;
}

function checks(m: Measurement): Report['checks'] {
  const c = m.changed;
  const w = c.write.stats;
  return [
    { name: `build under ${TARGET_MS / 1000} s`, ok: m.totalMs < TARGET_MS, detail: ms(m.totalMs) },
    { name: 'build peak RSS under 1 GiB', ok: m.buildPeakRss < TARGET_RSS, detail: mb(m.buildPeakRss) },
    {
      name: 'one-change rebuild writes only the changed elements',
      ok: w.added === c.diff.added && w.deleted === c.diff.removed && w.updated === c.diff.changed.length && w.added + w.updated + w.deleted > 0 && w.requests === 2 + w.added + w.updated + w.deleted,
      detail: `diff: ${c.diff.changed.length} changed (${c.diff.changed.join(', ')}), ${c.diff.added} added, ${c.diff.removed} removed; written: ${w.updated} updated, ${w.added} added, ${w.deleted} deleted in ${w.requests} statements`,
    },
    { name: 'unchanged rebuild writes nothing', ok: m.unchanged.stats.added + m.unchanged.stats.updated + m.unchanged.stats.deleted === 0, detail: `${m.unchanged.stats.requests} statements (the two reads)` },
  ];
}

function tableText(r: Report): string {
  const m = r.m;
  const rows: [string, string, string][] = m.phases.map((p) => [p.name, ms(p.ms), `${ms(p.cpuMs).padStart(9)} CPU   ${mb(p.rss)}`]);
  rows.push(['total (graph build)', ms(m.totalMs), `${ms(m.totalCpuMs).padStart(9)} CPU   peak ${mb(m.buildPeakRss)}`]);
  const w = (label: string, f: WriteFigures): [string, string, string] => [
    label,
    ms(f.writeMs),
    `${f.stats.added} added, ${f.stats.updated} updated, ${f.stats.deleted} deleted, ${f.stats.unchanged} unchanged; ${f.stats.requests} statements; history record ${ms(f.recordMs)}`,
  ];
  const lines = [
    `graph build (local backend): ${r.args.components} components × ${r.args.envs} environments, seed ${r.args.seed}`,
    `machine: ${r.machine}`,
    `repo: ${r.generated.files} files, ${(r.generated.bytes / 1e6).toFixed(1)} MB (generated in ${ms(r.generateMs)}); runtime: ${r.seed.parameters} parameters, ${r.seed.versions} versions from ${r.seed.applies} applies (recordApply, ${r.seed.mode}: ${ms(r.seed.recordMs)} + flush ${ms(r.seed.flushMs)})`,
    `graph: ${m.counts['deployments']} deployments, ${m.counts['vertices']} vertices, ${m.counts['edges']} edges; statuses ${Object.entries(m.statuses).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `waves (to apply / all): ${Object.entries(m.waves).map(([env, x]) => `${env} ${x.planned} in ${x.waves} / ${x.allWaves}`).join('; ')}; orderAll for every env ${ms(m.orderAllMs)} (not in the total)`,
    '',
    ...formatRows(['phase', 'wall', `${'CPU'.padStart(13)}   RSS after`], rows),
    `  load average (1 min) ${m.load[0].toFixed(2)} at the start of the build, ${m.load[1].toFixed(2)} at its end (2 cores: above ~1.5, wall time includes waiting for the CPU)`,
    '',
    ...formatRows(['store write', 'time', 'what was sent'], [
      w('first full write', m.full),
      [`rebuild after one input changed (${m.changed.component})`, ms(m.changed.rebuildMs), 'read + parse + runtime + graph + snapshot'],
      w('write of that rebuild', m.changed.write),
      w('write of an unchanged rebuild', m.unchanged),
    ]),
    '',
    `peak RSS of the whole child (build + writes): ${mb(m.peakRss)}${r.timeMaxRss ? `; /usr/bin/time -v: ${mb(r.timeMaxRss)}` : ''}`,
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
  const row = (...cells: string[]): string => `| ${cells.join(' | ')} |`;
  const wr = (label: string, f: WriteFigures): string =>
    row(label, ms(f.writeMs), count(f.stats.added), count(f.stats.updated), count(f.stats.deleted), count(f.stats.unchanged), count(f.stats.requests));
  return [
    '## graph build (local backend)',
    '',
    `Measured ${r.date} with \`npm run bench -- --write-docs\` (bench/graph-build.ts) on ${r.machine}.`,
    `Synthetic repo (bench/generate.ts, seed ${r.args.seed}): ${count(r.args.components)} components × ${r.args.envs} environments, ${count(r.generated.files)} files,`,
    `${count(m.counts['deployments'])} deployments; runtime seeded through recordApply (bench/seed.ts, batched): ${count(r.seed.parameters)} parameters, ${count(r.seed.versions)} versions from ${count(r.seed.applies)} applies.`,
    `Graph: ${count(m.counts['vertices'])} vertices, ${count(m.counts['edges'])} edges; statuses ${Object.entries(m.statuses).map(([k, v]) => `${k} ${count(v)}`).join(', ')}.`,
    '',
    row('phase', 'wall time', 'CPU time', 'RSS after'),
    row('---', '---:', '---:', '---:'),
    ...m.phases.map((p) => row(p.name, ms(p.ms), ms(p.cpuMs), mb(p.rss))),
    row('**total (graph build)**', `**${ms(m.totalMs)}**`, `**${ms(m.totalCpuMs)}**`, `**peak ${mb(m.buildPeakRss)}**`),
    '',
    `Load average (1 min): ${m.load[0].toFixed(2)} when the build started, ${m.load[1].toFixed(2)} when it ended; on 2 cores, wall time above CPU time is time spent waiting for a core.`,
    '',
    `Targets: under 3 s and under 1 GiB RSS. ${r.checks.slice(0, 2).map((c) => `${c.ok ? 'Met' : 'NOT met'}: ${c.name} (${c.detail})`).join('; ')}.`,
    `orderAll for every environment (not in the total): ${ms(m.orderAllMs)}. Peak RSS of the whole run including the writes: ${mb(m.peakRss)}${r.timeMaxRss ? ` (/usr/bin/time -v: ${mb(r.timeMaxRss)})` : ''}.`,
    '',
    row('store write', 'time', 'added', 'updated', 'deleted', 'unchanged', 'statements'),
    row('---', '---:', '---:', '---:', '---:', '---:', '---:'),
    wr('first full write (empty store)', m.full),
    wr(`rebuild after one input changed (${m.changed.component})`, m.changed.write),
    wr('unchanged rebuild', m.unchanged),
    '',
    `The one-change rebuild (read + parse + runtime + graph + snapshot) took ${ms(m.changed.rebuildMs)}; diffSnapshots against the previous build: ${m.changed.diff.changed.length} changed (${m.changed.diff.changed.map((id) => `\`${id}\``).join(', ')}), ${m.changed.diff.added} added, ${m.changed.diff.removed} removed — exactly what the store wrote.`,
    'Statements = the two reads of ids and hashes + one statement per upserted or deleted element. Recording the build in the history (gzipped snapshot) is extra:',
    `${ms(m.full.recordMs)} for the first build.`,
    '',
  ].join('\n');
}

function writeDocs(section: string): string {
  const file = join(import.meta.dirname, '..', 'docs', 'benchmarks.md');
  const heading = '## graph build (local backend)';
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\nFigures from the scripts in bench/. Re-run them and update this page when the code they measure changes.\n\n';
  const start = text.indexOf(heading);
  if (start < 0) text = `${text.trimEnd()}\n\n${section}`;
  else {
    const next = text.indexOf('\n## ', start + heading.length);
    text = `${text.slice(0, start)}${section}${next < 0 ? '' : `\n${text.slice(next + 1)}`}`;
  }
  writeFileSync(file, `${text.trimEnd()}\n`);
  return file;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      components: { type: 'string', default: '5000' },
      envs: { type: 'string', default: '3' },
      seed: { type: 'string', default: '1' },
      dir: { type: 'string' },
      measure: { type: 'string' },
      'write-docs': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.measure) {
    process.stdout.write(`${JSON.stringify(await measure(values.measure))}\n`);
    return;
  }
  const args = { components: Number(values.components), envs: Number(values.envs), seed: Number(values.seed) };
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'karma-bench-'));
  const startMachine = machine();
  try {
    process.stderr.write(`generating ${args.components} × ${args.envs} into ${dir}\n`);
    const t0 = performance.now();
    const repo = generateRepo({ ...args, out: dir });
    const generateMs = performance.now() - t0;
    process.stderr.write('seeding the runtime (recordApply)\n');
    const seed = await seedRuntime(repo, { seed: args.seed });
    process.stderr.write('measuring the build in a fresh process\n');
    const self = join(import.meta.dirname, 'graph-build.ts');
    const useTime = existsSync('/usr/bin/time');
    const command = useTime ? '/usr/bin/time' : process.execPath;
    const argv = [...(useTime ? ['-v', process.execPath] : []), self, '--measure', dir];
    const child = spawnSync(command, argv, { encoding: 'utf8', maxBuffer: 64 * MiB });
    if (child.status !== 0) throw new Error(`measuring failed (exit ${child.status}):\n${child.stderr}`);
    const m = JSON.parse(child.stdout.trim().split('\n').pop()!) as Measurement;
    const timeKb = /Maximum resident set size \(kbytes\): (\d+)/.exec(child.stderr)?.[1];
    const report: Report = {
      date: new Date().toISOString().slice(0, 10),
      machine: startMachine,
      args,
      generateMs,
      generated: { files: repo.files, bytes: repo.bytes },
      seed,
      m,
      ...(timeKb ? { timeMaxRss: Number(timeKb) * 1024 } : {}),
      checks: checks(m),
    };
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${tableText(report)}\n`);
    if (values['write-docs']) process.stderr.write(`wrote ${writeDocs(markdown(report))}\n`);
    if (report.checks.some((c) => !c.ok)) process.exitCode = 1;
  } finally {
    if (!values.dir) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
