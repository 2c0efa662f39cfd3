/**
 * The read routes of the serverless API (GET /graph, /plan, /impact, /components/{env}/{name}) on what the
 * pipeline keeps: the config from Git (the same source and credentials as the pipeline's Build step) and the
 * runtime from SSM, built into statuses; Neptune for the stored graph.
 *
 *   current()               a build from Git + SSM, reused by the container for KARMA_API_CACHE_SECONDS (default 5)
 *   current({refresh})      a build from Git + SSM now, written to Neptune (only what changed) and recorded
 *   storedGraph({env})      the graph as Neptune holds it (the pipeline's last write): one read, no Git, no SSM;
 *                           what GET /graph without refresh and without a component needs (see docs/api-serverless.md)
 */
import { resolve } from 'node:path';
import type { Config } from '../../core/model.ts';
import { filterEnv, type GraphSnapshot } from '../../core/snapshot.ts';
import type { ConfigSource } from '../../ports.ts';
import { DirectorySource } from '../../adapters/fs/directory-source.ts';
import { GitSource, isGitUrl } from '../../adapters/git/git-source.ts';
import { gitOnAuthFromEnv } from '../../adapters/git/auth.ts';
import { openAwsBackend } from '../aws-backend.ts';
import type { Backend } from '../backend.ts';
import { buildFromConfig, loadConfig, storeBuild } from '../build.ts';
import type { Current, Workspace } from '../workspace.ts';
import { awsWorkspaceSettings, composeWorkspace, type AwsWorkspaceSettings, type ReadPart } from './settings.ts';

/** The graph as stored, and what it says about itself. */
export interface StoredGraph {
  readonly snapshot: GraphSnapshot;
  /** The store's build id of the snapshot, when known. */
  readonly buildId: string | null;
}

export interface AwsReads extends ReadPart {
  /**
   * The graph Neptune holds, whole or one environment's part, without building anything; undefined when Neptune
   * holds none yet, or not the environment asked for (then current() answers: the graph, or the 404).
   */
  storedGraph(options?: { readonly env?: string }): Promise<StoredGraph | undefined>;
  close(): Promise<void>;
}

/** The config source the pipeline's Build step reads: the Git remote at the tracked branch, or a directory (tests). */
export function configSource(s: AwsWorkspaceSettings): ConfigSource {
  // The remote-tracking ref: GitSource's fetch moves refs/remotes/origin/*, never the local branch of its first
  // clone, so `main` or `HEAD` would stay at the commit the container first saw.
  if (isGitUrl(s.config)) return new GitSource(s.config, `refs/remotes/origin/${s.branch ?? 'HEAD'}`, { onAuth: gitOnAuthFromEnv(s.env) });
  return s.branch ? new GitSource(resolve(s.config), s.branch) : new DirectorySource(s.config);
}

export function awsReads(s: AwsWorkspaceSettings, options: { now?: () => number } = {}): AwsReads {
  const now = options.now ?? Date.now;
  let backend: Promise<Backend> | undefined;
  let cached: { at: number; current: Current } | undefined;
  let building: Promise<Current> | undefined;

  // One backend per container (an SSM client, a Neptune connection), opened with the first config it is asked for.
  const backendFor = (config: Config | undefined): Promise<Backend> => {
    backend ??= openAwsBackend(config, { baseDir: '/tmp' }).catch((error: unknown) => {
      backend = undefined;
      throw error;
    });
    return backend;
  };

  const build = async (refresh: boolean): Promise<Current> => {
    const source = configSource(s);
    const config = await loadConfig(source);
    const b = await backendFor(config);
    const { build: result, snapshot } = await buildFromConfig(config, b.runtime, { source });
    let buildId: string | null = null;
    if (refresh) buildId = (await storeBuild(b.graph, snapshot, { store: 'graph store' })).record.id;
    const current: Current = { build: result, snapshot, buildId };
    cached = { at: now(), current };
    return current;
  };

  return {
    async current(opts = {}) {
      if (opts.refresh) return build(true);
      if (cached && now() - cached.at < s.cacheMs) return cached.current;
      // Concurrent callers (karma serve --backend aws) share one build.
      building ??= build(false).finally(() => (building = undefined));
      return building;
    },
    async storedGraph(opts = {}) {
      const b = await backendFor(cached?.current.build.config);
      const stored = await b.graph.read();
      if (!stored || stored.vertices.length === 0) return undefined;
      if (opts.env === undefined) return { snapshot: stored, buildId: null };
      const envs = stored.vertices.filter((v) => v.label === 'Environment').map((v) => String(v.props['name'] ?? v.id.slice('env:'.length)));
      // Not in the stored graph: unknown, or declared since the pipeline last wrote it; the build tells which.
      if (!envs.includes(opts.env)) return undefined;
      return { snapshot: filterEnv(stored, opts.env), buildId: null };
    },
    async close() {
      const b = backend;
      backend = undefined;
      cached = undefined;
      if (b) await (await b).close();
    },
  };
}

/** The workspace of the read function (lambdas/api-read.ts): Git + SSM + Neptune. */
export async function openAwsReadWorkspace(env: NodeJS.ProcessEnv = process.env): Promise<Workspace & { readonly reads: AwsReads }> {
  const s = awsWorkspaceSettings(env);
  const reads = awsReads(s);
  return { ...composeWorkspace(`serverless: config ${s.config}`, { read: reads }), reads };
}
