/**
 * The workspace `karma serve` opens: a config repo (a directory, or a Git URL read at a ref), the backend its
 * karma.yaml names (or --backend), and the places the CLI uses for Terraform. Reads are the CLI's reads: a live
 * build of config + runtime, kept for `cacheSeconds` (one build at a time however many requests wait for it);
 * `refresh` builds now and writes the graph store, as `karma graph build` does.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { NotFoundError } from '../core/errors.ts';
import type { Config } from '../core/model.ts';
import { buildFromConfig, loadConfig, storeBuild } from './build.ts';
import { localDatabasePath, openBackend, type Backend, type BackendType } from './backend.ts';
import { isGitUrl, openConfigSource } from './open.ts';
import { auditPage } from './audit.ts';
import { applyChange, checkApply, getChange, listChanges, requestChange, requireDestroyAccepted, type Change, type ChangeContext, type RequestedChange } from './changes.ts';
import { openGitRepository } from './open.ts';
import { UsageError } from '../core/errors.ts';
import { executionOfRun, proposalRequest, type ApplyRequest, type AuditPage, type ChangeRequest, type Current, type ExecutionView, type Workspace } from './workspace.ts';

export interface LocalWorkspaceOptions {
  /** A directory or a Git URL. */
  readonly config: string;
  readonly ref?: string;
  readonly backend?: BackendType;
  /** The local store folder (default: karma.yaml backend.path, else .karma in the config repo). */
  readonly store?: string;
  /** How long a live build is reused (default 5 s); 0: every read builds. */
  readonly cacheSeconds?: number;
  /** terraform, tofu or a path (default: $KARMA_TERRAFORM, karma.yaml, then PATH). */
  readonly terraform?: string;
  readonly warn?: (message: string) => void;
}

export const DEFAULT_CACHE_SECONDS = 5;

export class LocalWorkspace implements Workspace {
  readonly description: string;
  private cached: { current: Current; at: number } | undefined;
  private building: Promise<Current> | undefined;
  /** Pipeline runs this process started, by execution id. */
  readonly executions = new Map<string, ExecutionView>();

  readonly options: LocalWorkspaceOptions;

  constructor(options: LocalWorkspaceOptions) {
    this.options = options;
    this.description = `config ${options.config}${options.ref ? ` at ${options.ref}` : ''}`;
  }

  /** The directory the local store is relative to: the config directory, or the current one for a URL. */
  get baseDir(): string {
    return isGitUrl(this.options.config) ? process.cwd() : resolve(this.options.config);
  }

  async config(): Promise<Config> {
    return loadConfig(openConfigSource(this.options.config, this.options.ref));
  }

  /** Opens the backend for `work` and closes it after; `create`: a missing local store is made (writes). */
  async withBackend<T>(config: Config, create: boolean, work: (backend: Backend) => Promise<T>): Promise<T> {
    const backend = await openBackend(config, {
      baseDir: this.baseDir,
      create,
      ...(this.options.backend ? { type: this.options.backend } : {}),
      ...(this.options.store ? { localPath: this.options.store } : {}),
      ...(this.options.warn ? { warn: this.options.warn } : {}),
    });
    try {
      return await work(backend);
    } finally {
      await backend.close();
    }
  }

  /** Whether reading would find no local store (then the runtime is empty: everything never-applied). */
  private noLocalStore(config: Config): boolean {
    if ((this.options.backend ?? config.project.backend.type) !== 'local') return false;
    return !existsSync(localDatabasePath(config, { baseDir: this.baseDir, ...(this.options.store ? { localPath: this.options.store } : {}) }));
  }

  async current(options: { readonly refresh?: boolean } = {}): Promise<Current> {
    const maxAge = (this.options.cacheSeconds ?? DEFAULT_CACHE_SECONDS) * 1000;
    if (!options.refresh && this.cached && Date.now() - this.cached.at < maxAge) return this.cached.current;
    // One build at a time: requests that arrive while one runs wait for it (a refresh waits, then builds again).
    while (this.building) {
      const pending = this.building;
      const current = await pending.catch(() => undefined);
      if (!options.refresh && current) return current;
      if (this.building === pending) break;
    }
    this.building = this.build(options.refresh === true);
    try {
      const current = await this.building;
      // Its age counts from when it is ready: a build slower than the cache age is still reused.
      this.cached = { current, at: Date.now() };
      return current;
    } finally {
      this.building = undefined;
    }
  }

  private async build(write: boolean): Promise<Current> {
    const source = openConfigSource(this.options.config, this.options.ref);
    const config = await loadConfig(source);
    if (!write && this.noLocalStore(config)) {
      const { build, snapshot } = await buildFromConfig(config, undefined);
      return { build, snapshot, buildId: null };
    }
    return this.withBackend(config, write, async (backend) => {
      const { build, snapshot } = await buildFromConfig(config, backend.runtime, { source });
      if (!write) return { build, snapshot, buildId: null };
      const { record } = await storeBuild(backend.graph, snapshot, { store: backend.description });
      return { build, snapshot, buildId: record.id };
    });
  }

  /** Forget the cached build: the next read builds (after an apply, a change of the runtime). */
  invalidate(): void {
    this.cached = undefined;
  }

  /** The change use cases (lib/app/changes.ts) on the config repo, as `actor` (the service's queue runs them too). */
  async changeContext(actor: string): Promise<ChangeContext> {
    if (isGitUrl(this.options.config)) throw new UsageError('changes need a local clone of the config repo: start karma serve with --config DIR');
    if (this.options.ref) throw new UsageError('changes work on the current branch of the config repo: start karma serve without --ref');
    const repo = await openGitRepository(this.baseDir);
    return {
      repo,
      withBackend: (config, work) => this.withBackend(config, true, work),
      audit: (backend) => backend.audit,
      places: { baseDir: this.baseDir, ...(this.options.store ? { store: this.options.store } : {}) },
      ...(this.options.backend ? { backendType: this.options.backend } : {}),
      ...(this.options.terraform ? { terraform: this.options.terraform } : {}),
      actor,
    };
  }

  async requestChange(request: ChangeRequest, actor: string): Promise<RequestedChange> {
    const ctx = await this.changeContext(actor);
    return requestChange(ctx, proposalRequest(request));
  }

  async listChanges(options: { readonly limit?: number }): Promise<{ readonly changes: readonly Change[] }> {
    return listChanges(await this.changeContext('reader'), options);
  }

  async getChange(id: string): Promise<Change> {
    return getChange(await this.changeContext('reader'), id);
  }

  /**
   * The decision is this call: the checks run now (a refusal is the answer: 404, 400, 409), the change is
   * recorded queued, and the apply runs in this process (the environment lock serialises it with any other run);
   * the answer comes at once. When it ends, its pipeline run is kept for GET /executions/{id}.
   */
  async applyChange(id: string, request: ApplyRequest, actor: string): Promise<{ readonly change: Change; readonly execution: string | null }> {
    const ctx = await this.changeContext(actor);
    await getChange(ctx, id); // an unknown change is a 404, not the CLI's usage error
    const checked = await checkApply(ctx, id);
    await requireDestroyAccepted(ctx, checked, request.allowDestroy);
    const { proposal, config } = checked;
    await this.withBackend(config, true, (backend) =>
      backend.audit.append({ at: new Date().toISOString(), actor, action: 'change.apply-queued', change: proposal.id, component: proposal.component, env: proposal.env, commit: proposal.commit }),
    );
    const started = new Date().toISOString();
    const run = applyChange(ctx, proposal.id, { checked, ...(request.allowDestroy ? { allowDestroy: true } : {}), ...(request.includePending ? { includePending: true } : {}) })
      .then((applied) => {
        if (applied.pipeline) this.executions.set(applied.pipeline.executionId, executionOfRun(applied.pipeline, started));
      })
      .catch((error: unknown) => this.options.warn?.(`apply of ${proposal.id} ended with an error: ${(error as Error)?.message ?? String(error)}`))
      .finally(() => {
        this.running.delete(run);
        this.invalidate();
      });
    this.running.add(run);
    return { change: await getChange(ctx, proposal.id), execution: null };
  }

  /** Applies started by applyChange and not finished: close() waits for them. */
  private readonly running = new Set<Promise<void>>();

  async execution(id: string): Promise<ExecutionView> {
    const run = this.executions.get(id);
    if (run) return run;
    throw new NotFoundError(`no pipeline run "${id}" started by this server; the runs it knows: ${[...this.executions.keys()].join(', ') || 'none'}`, {
      kind: 'execution',
      value: id,
      known: [...this.executions.keys()],
    });
  }

  async audit(page: { readonly limit?: number; readonly after?: string; readonly change?: string }): Promise<AuditPage> {
    const config = await this.config();
    if (this.noLocalStore(config)) return { entries: [], next: null };
    return this.withBackend(config, false, (backend) => auditPage(backend.audit, page));
  }

  /** Waits for the applies in flight (a SIGTERM lets them finish: an apply cut short leaves a lock to take over). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.running]);
    this.cached = undefined;
  }
}
