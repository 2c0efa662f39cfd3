/**
 * The main job: config + runtime → graph → store. Used by the CLI, the Lambda steps and the service alike.
 */
import { parseConfig } from '../core/config.ts';
import type { Config, RepoFile } from '../core/model.ts';
import { envParamPath } from '../core/model.ts';
import { buildGraph, toSnapshot, type Build } from '../core/graph.ts';
import { findOrphans, type Removal } from '../core/orphans.ts';
import type { Parameter, RuntimeSnapshot } from '../core/runtime.ts';
import type { GraphSnapshot, WriteStats } from '../core/snapshot.ts';
import type { BuildRecord, Clock, ConfigSource, GraphStore, Progress, RuntimeStore } from '../ports.ts';
import { silentProgress, systemClock } from '../ports.ts';

export async function loadConfig(source: ConfigSource): Promise<Config> {
  return (await loadConfigAndFiles(source)).config;
}

/** The config and the repo's files (an apply copies the module from them). */
export async function loadConfigAndFiles(source: ConfigSource): Promise<{ config: Config; files: RepoFile[] }> {
  const { files, problems, commit } = await source.load();
  return { config: parseConfig(files, { source: source.description, ...(commit ? { commit } : {}) }, problems), files };
}

/** Runs `fn` over items with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Everything the build needs from the runtime store: each environment's subtree under the prefix (read in
 * parallel, bounded), plus external `${ssm:...}` parameters by name, plus environments only referenced
 * across (their outputs live under their own subtree, read the same way).
 */
export async function readRuntime(config: Config, runtime: RuntimeStore, options: { concurrency?: number } = {}): Promise<RuntimeSnapshot> {
  const prefix = config.project.parameterPrefix;
  const envs = [...config.project.environments.keys()];
  const external = [...new Set(config.deployments.flatMap((d) => d.references.flatMap((r) => (r.kind === 'ssm' ? [r.path] : []))))].sort();
  const perEnv = await mapLimit(envs, options.concurrency ?? 4, (env) => runtime.readPath(envParamPath(prefix, env)));
  const named = external.length > 0 ? await runtime.readNames(external) : [];
  const snapshot = new Map<string, Parameter>();
  for (const list of perEnv) for (const p of list) snapshot.set(p.name, p);
  for (const p of named) snapshot.set(p.name, p);
  return snapshot;
}

export interface BuildResult {
  readonly build: Build;
  readonly snapshot: GraphSnapshot;
  /** Every parameter the build read, by name (the live graph keeps it to update the build incrementally). */
  readonly runtime: RuntimeSnapshot;
  readonly timings: Readonly<Record<string, number>>;
}

/**
 * Where the orphans of this runtime were removed, when `source` has Git history (else an empty map). Looked up
 * only when there are orphans; a history that cannot be read is reported as a progress line, never an error.
 */
async function removalsFor(config: Config, params: RuntimeSnapshot, source: ConfigSource | undefined, progress: Progress): Promise<ReadonlyMap<string, Removal>> {
  if (!source?.findRemovals) return new Map();
  const orphans = findOrphans(config, params);
  if (orphans.length === 0) return new Map();
  try {
    return await source.findRemovals(orphans);
  } catch (error) {
    progress.step(`cannot read the Git history to date removed deployments: ${(error as Error).message}`);
    return new Map();
  }
}

/**
 * Reads the runtime the config needs and builds the graph with statuses. Writes nothing. `source` (the config's
 * own source) lets orphaned deployments say which commit removed them.
 */
export async function buildFromConfig(
  config: Config,
  runtime: RuntimeStore | undefined,
  options: { clock?: Clock; progress?: Progress; source?: ConfigSource } = {},
): Promise<BuildResult> {
  const progress = options.progress ?? silentProgress;
  const clock = options.clock ?? systemClock;
  const t1 = performance.now();
  progress.step(`reading runtime state (${config.project.environments.size} environment${config.project.environments.size === 1 ? '' : 's'})`);
  const params = runtime ? await readRuntime(config, runtime) : new Map<string, Parameter>();
  const removals = await removalsFor(config, params, options.source, progress);
  const t2 = performance.now();
  const build = buildGraph(config, params, { builtAt: clock.now().toISOString(), removals });
  const snapshot = toSnapshot(build);
  const t3 = performance.now();
  return { build, snapshot, runtime: params, timings: { runtimeMs: t2 - t1, graphMs: t3 - t2 } };
}

/** Load, read runtime, build, validate, compute statuses. Writes nothing. */
export async function buildFromSources(
  source: ConfigSource,
  runtime: RuntimeStore | undefined,
  options: { clock?: Clock; progress?: Progress } = {},
): Promise<BuildResult> {
  const t0 = performance.now();
  (options.progress ?? silentProgress).step(`reading config from ${source.description}`);
  const config = await loadConfig(source);
  const configMs = performance.now() - t0;
  const result = await buildFromConfig(config, runtime, { ...options, source });
  return { ...result, timings: { configMs, ...result.timings } };
}

/**
 * Writes the snapshot (diff-based) and records it in the build history. `stats` is what this write sent; the
 * record's stats are the changes since the previous record (what `graph diff` counts), which differ only when
 * something wrote the graph without recording it in between. `progress` hears what is being done before the
 * store has compared (nothing it says is a count it does not know yet).
 */
export async function storeBuild(
  graph: GraphStore,
  snapshot: GraphSnapshot,
  options: { progress?: Progress; store?: string } = {},
): Promise<{ stats: WriteStats; record: BuildRecord }> {
  (options.progress ?? silentProgress).step(`storing the build${options.store ? ` in the ${options.store}` : ''}: only what changed since the stored graph is written`);
  const stats = await graph.write(snapshot);
  const record = await graph.recordBuild(snapshot, stats);
  return { stats, record };
}
