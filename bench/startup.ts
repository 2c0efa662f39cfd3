/**
 * `npm run bench:startup`: how long the installed `karma` (dist/, built by `npm run build`) takes to start,
 * as a ratio to a bare `node -e 0` measured in the same run, on the same Node.
 *
 *   node bench/startup.ts [--runs 21] [--write-docs]
 *
 * Each round runs every case once, in turn (bare node, --version, --help, graph validate on the example), so a
 * load spike on a shared machine hits all of them alike; the medians of --runs rounds are compared. Goals
 * (issue 11): `--version` and `--help` ≤ 4× bare node, `graph validate -c examples/acme-platform` ≤ 8×. Exits 1
 * when a goal is missed, 2 when dist/ is missing. With --write-docs, replaces the "CLI start-up" section of
 * docs/benchmarks.md.
 *
 * A script, never a timed test: timings depend on the machine and its load.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const KARMA = join(ROOT, 'dist', 'karma.js');
const EXAMPLE = join(ROOT, 'examples', 'acme-platform');

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  /** Maximum median as a multiple of bare node's; undefined for the baseline. */
  readonly goal?: number;
}

const CASES: readonly Case[] = [
  { name: 'node -e 0 (bare node)', args: ['-e', '0'] },
  { name: 'karma --version', args: [KARMA, '--version'], goal: 4 },
  { name: 'karma --help', args: [KARMA, '--help'], goal: 4 },
  { name: 'karma graph validate -c examples/acme-platform', args: [KARMA, 'graph', 'validate', '-c', EXAMPLE], goal: 8 },
];

function timeOnce(args: readonly string[]): number {
  const started = process.hrtime.bigint();
  const run = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} exited ${run.status}: ${run.stderr.toString().trim()}`);
  return ms;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface StartupRow {
  readonly name: string;
  readonly medianMs: number;
  readonly ratio: number;
  readonly goal?: number;
  readonly met: boolean;
}

export function measure(runs: number): StartupRow[] {
  const samples = CASES.map(() => [] as number[]);
  for (const c of CASES) timeOnce(c.args); // warm the file cache once
  for (let round = 0; round < runs; round++) {
    for (const [i, c] of CASES.entries()) samples[i]!.push(timeOnce(c.args));
  }
  const bare = median(samples[0]!);
  return CASES.map((c, i) => {
    const medianMs = median(samples[i]!);
    const ratio = medianMs / bare;
    return { name: c.name, medianMs, ratio, ...(c.goal ? { goal: c.goal } : {}), met: c.goal === undefined || ratio <= c.goal };
  });
}

function table(rows: readonly StartupRow[]): string {
  const lines = ['| command | median | × bare node | goal |', '| --- | ---: | ---: | --- |'];
  for (const r of rows) {
    lines.push(`| \`${r.name}\` | ${r.medianMs.toFixed(0)} ms | ${r.ratio.toFixed(1)}× | ${r.goal ? `≤ ${r.goal}× ${r.met ? '(met)' : '(MISSED)'}` : 'baseline'} |`);
  }
  return lines.join('\n');
}

function machine(runs: number): string {
  const cpu = cpus();
  return `Node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${loadavg()[0]!.toFixed(1)} at the start; ${runs} rounds, medians.`;
}

const SECTION = '## CLI start-up';

function writeDocs(rows: readonly StartupRow[], runs: number, load: string): void {
  const file = join(ROOT, 'docs', 'benchmarks.md');
  const docs = readFileSync(file, 'utf8');
  const body = [
    SECTION,
    '',
    '`npm run bench:startup` (builds, then bench/startup.ts) starts the built CLI (dist/karma.js) and a bare',
    '`node -e 0` in turn, round after round, and compares medians. Goals (issue 11): `--version`/`--help` ≤ 4× bare',
    'node, `graph validate` on the example ≤ 8×. Command modules load inside their actions, so `--version` loads',
    'commander only; `graph validate` loads the config reader (yaml, zod, ajv: bundled into dist/) and never the AWS',
    'SDK, gremlin, isomorphic-git or the local Step Functions interpreter. The machine is shared: the medians move',
    'with its load (printed below), the ratios much less. Before (issue 11): `karma --version` took 0.50 s, 16× a',
    'bare node, because every command loaded the AWS SDK, gremlin, isomorphic-git and aws-local-stepfunctions.',
    '',
    table(rows),
    '',
    load,
    '',
  ].join('\n');
  const at = docs.indexOf(SECTION);
  let next = at < 0 ? -1 : docs.indexOf('\n## ', at + SECTION.length);
  if (next >= 0) next += 1;
  const updated = at < 0 ? `${docs.trimEnd()}\n\n${body}` : `${docs.slice(0, at)}${body}${next >= 0 ? `\n${docs.slice(next)}` : ''}`;
  writeFileSync(file, updated);
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '21' }, 'write-docs': { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    console.error('bench:startup: --runs must be a positive integer');
    process.exit(2);
  }
  if (!existsSync(KARMA)) {
    console.error('bench:startup: dist/karma.js is missing: run npm run build first');
    process.exit(2);
  }
  const load = machine(runs);
  const rows = measure(runs);
  console.log(table(rows));
  console.log(load);
  if (values['write-docs']) writeDocs(rows, runs, load);
  const missed = rows.filter((r) => !r.met);
  if (missed.length > 0) {
    console.error(`bench:startup: goal missed: ${missed.map((r) => `${r.name} ${r.ratio.toFixed(1)}× > ${r.goal}×`).join('; ')}`);
    process.exit(1);
  }
}
