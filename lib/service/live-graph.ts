/**
 * The live graph `karma serve` keeps in memory (docs/service.md "The live graph").
 *
 *   load      once: the config, every parameter it needs, the graph with statuses (lib/app/build.ts).
 *   runtime   every `pollMs` the change feed (lib/ports.ts RuntimeChangeFeed) says which parameters changed;
 *             they are read by name and applied incrementally (lib/core/live.ts): only the deployments they
 *             affect are recomputed.
 *   config    a directory is watched (fs.watch, recursive); a Git URL is fetched every `fetchSeconds` and on a
 *             signed push (POST /webhooks/git). A config that changed is a full reload.
 *   sync      every `syncSeconds`, when the graph changed since the last write, it is written to the graph store
 *             (diff-based: only what changed is sent) and recorded as a build; /healthz reports the last one.
 *
 * All updates run one at a time (a chain of promises): a poll never sees a half-made reload. Reads take the
 * current state as it is; a state is never modified once published, so a request serialising the graph while an
 * update runs sees one consistent build.
 */
import { watch, type FSWatcher } from 'node:fs';
import { sep } from 'node:path';
import { configFingerprint } from '../core/config.ts';
import { sha256 } from '../core/hash.ts';
import type { Config } from '../core/model.ts';
import { applyRuntimeChanges, type LiveState } from '../core/live.ts';
import { deploymentKey } from '../core/model.ts';
import type { Removal } from '../core/orphans.ts';
import type { Parameter } from '../core/runtime.ts';
import { buildFromConfig, loadConfig, storeBuild } from '../app/build.ts';
import type { EventBus, StatusChange } from '../app/events.ts';
import type { Current } from '../app/workspace.ts';
import type { ConfigSource, GraphStore, RuntimeChangeFeed, RuntimeStore } from '../ports.ts';
import { errorLine, type Log } from './log.ts';

export interface LiveGraphOptions {
  /** A fresh source of the config for each load (a directory, or a Git URL at a ref: fetched on each load). */
  readonly source: () => ConfigSource;
  /** The runtime store the service keeps open; undefined: no store yet (everything never-applied). */
  readonly runtime: RuntimeStore | undefined;
  readonly feed: RuntimeChangeFeed;
  readonly bus: EventBus;
  readonly log: Log;
  /** How often the change feed is asked (default 250 ms). */
  readonly pollMs?: number;
  /** A config directory to watch for changes. */
  readonly watchDir?: string;
  /** A Git URL: how often to fetch it (default 60 s; 0: only on a push). */
  readonly fetchSeconds?: number;
  /** Where the graph is written, how often (default 30 s; 0: never). */
  readonly sync?: { readonly graph: GraphStore; readonly everySeconds?: number; readonly store: string };
  readonly now?: () => Date;
}

export interface SyncReport {
  readonly at: string | null;
  readonly buildId: string | null;
  readonly written: number | null;
  readonly error: string | null;
}

interface Loaded {
  readonly live: LiveState;
  readonly fingerprint: string;
  readonly commit: string | null;
  readonly removals: ReadonlyMap<string, Removal>;
}

/**
 * What a reload would change: every deployment's config hash (inputs, component, module files) and the project's
 * settings (environments, prefix, notifications, …). A touched file, a comment or a commit that changes neither is
 * not a reload.
 */
function fingerprintOf(config: Config): string {
  const project = JSON.stringify(config.project, (_key, value: unknown) => (value instanceof Map ? [...value.entries()] : value));
  return `${configFingerprint(config)}:${sha256(project)}`;
}

/** Config paths that are not config: Git's, the local store's, Terraform's work copies and caches. */
const IGNORED = new Set(['.git', '.karma', '.terraform', 'node_modules']);

export class LiveGraph {
  private loaded: Loaded | undefined;
  private current_: Current | undefined;
  private version_ = 0;
  private loadedAt: string | null = null;
  private updatedAt: string | null = null;
  private cursor: string | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private stopped = false;
  private polling = false;
  private syncedVersion = -1;
  private lastSync: SyncReport = { at: null, buildId: null, written: null, error: null };
  private readonly options: LiveGraphOptions;
  private readonly now: () => Date;

  constructor(options: LiveGraphOptions) {
    this.options = options;
    this.now = options.now ?? (() => new Date());
  }

  get ready(): boolean {
    return this.current_ !== undefined;
  }

  get version(): number {
    return this.version_;
  }

  /** The live build, as the API's routes read it. */
  current(): Current {
    if (!this.current_) throw new Error('the live graph is not loaded yet');
    return this.current_;
  }

  info(): { version: number; loadedAt: string | null; updatedAt: string | null; commit: string | null } {
    return { version: this.version_, loadedAt: this.loadedAt, updatedAt: this.updatedAt, commit: this.loaded?.commit ?? null };
  }

  syncReport(): SyncReport {
    return this.lastSync;
  }

  /** Loads the graph (the config must load: a broken one throws, and the service does not start). */
  async start(): Promise<void> {
    // The cursor first: a change made while the graph loads is applied after (reading it again is harmless).
    this.cursor = (await this.options.feed.poll(undefined)).cursor;
    await this.serial(() => this.reload('reload'));
    const pollMs = this.options.pollMs ?? 250;
    this.timers.push(setInterval(() => void this.poll(), pollMs));
    if (this.options.watchDir) this.watchConfig(this.options.watchDir);
    const fetchSeconds = this.options.fetchSeconds ?? 60;
    if (!this.options.watchDir && fetchSeconds > 0) this.timers.push(setInterval(() => this.configChanged('fetch'), fetchSeconds * 1000));
    const every = this.options.sync?.everySeconds ?? 30;
    if (this.options.sync && every > 0) this.timers.push(setInterval(() => void this.sync(), every * 1000));
    for (const t of this.timers) t.unref();
  }

  /** Stops following changes; waits for the update under way, then writes the graph once more if it changed. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.watcher?.close();
    if (this.debounce) clearTimeout(this.debounce);
    await this.chain.catch(() => undefined);
    if (this.options.sync && this.current_) await this.sync();
  }

  /** The config may have changed (a file, a push, the fetch interval): reload when its fingerprint moved. */
  configChanged(why: string): void {
    if (this.stopped) return;
    void this.serial(async () => {
      const config = await loadConfig(this.options.source());
      if (this.loaded && fingerprintOf(config) === this.loaded.fingerprint && (config.commit ?? null) === this.loaded.commit) return;
      this.options.log.info('config changed: reloading the graph', { why, commit: config.commit ?? null });
      await this.reload('config');
    }).catch((error: unknown) => this.options.log.warn('the changed config does not load: the graph keeps the last good one', { error: errorLine(error) }));
  }

  /** Writes the graph to the store now when it changed since the last write. */
  async sync(): Promise<SyncReport> {
    const sync = this.options.sync;
    const current = this.current_;
    if (!sync || !current || this.version_ === this.syncedVersion) return this.lastSync;
    const version = this.version_;
    try {
      const { stats, record } = await storeBuild(sync.graph, current.snapshot, { store: sync.store });
      const written = stats.added + stats.updated + stats.deleted;
      this.syncedVersion = version;
      this.lastSync = { at: this.now().toISOString(), buildId: record.id, written, error: null };
      this.current_ = this.current_ === current ? { ...current, buildId: record.id } : this.current_;
      this.options.log.info('graph written to the store', { version, build: record.id, written });
    } catch (error) {
      this.lastSync = { ...this.lastSync, error: errorLine(error) };
      this.options.log.error('cannot write the graph to the store', { error: errorLine(error) });
    }
    return this.lastSync;
  }

  /** One poll of the change feed (also called by tests and after an apply, not to wait for the timer). */
  async poll(): Promise<void> {
    if (this.stopped || this.polling || !this.loaded) return;
    this.polling = true;
    try {
      const { cursor, changed, reset } = await this.options.feed.poll(this.cursor);
      if (reset) {
        this.cursor = cursor;
        this.options.log.warn('the runtime change feed lost track: reloading the graph');
        await this.serial(() => this.reload('reload'));
        return;
      }
      if (changed.length > 0) await this.serial(() => this.applyChanged(changed));
      this.cursor = cursor;
    } catch (error) {
      this.options.log.warn('cannot read the runtime changes; trying again', { error: errorLine(error) });
    } finally {
      this.polling = false;
    }
  }

  private async applyChanged(names: readonly string[]): Promise<void> {
    const loaded = this.loaded!;
    const runtime = this.options.runtime;
    const found = runtime ? await runtime.readNames(names) : [];
    const byName = new Map(found.map((p) => [p.name, p]));
    const changed = new Map<string, Parameter | null>(names.map((n) => [n, byName.get(n) ?? null]));
    const started = performance.now();
    const update = applyRuntimeChanges(loaded.live, changed, { builtAt: this.now().toISOString(), removals: loaded.removals });
    const ms = performance.now() - started;
    if (update.build === loaded.live.build) return;
    this.loaded = { ...loaded, live: update };
    this.publish(update, 'runtime', update.statusChanges);
    this.options.log.info('graph updated', { cause: 'runtime', parameters: names.length, recomputed: update.recomputed, full: update.full, statusChanges: update.statusChanges.length, ms: Math.round(ms * 10) / 10 });
  }

  private async reload(cause: 'reload' | 'config'): Promise<void> {
    const started = performance.now();
    const source = this.options.source();
    const config = await loadConfig(source);
    const result = await buildFromConfig(config, this.options.runtime, { source });
    const removals = new Map<string, Removal>();
    for (const o of result.build.orphans) if (o.removal) removals.set(deploymentKey(o.env, o.component), o.removal);
    const before = this.loaded?.live.build.statuses;
    const statusChanges: StatusChange[] = [];
    for (const [key, s] of result.build.statuses) {
      const was = before?.get(key);
      if (before && (was?.status !== s.status || was?.reason !== s.reason)) statusChanges.push({ env: s.env, component: s.component, from: was?.status ?? null, to: s.status, reason: s.reason });
    }
    this.loaded = { live: { build: result.build, snapshot: result.snapshot, runtime: result.runtime }, fingerprint: fingerprintOf(config), commit: config.commit ?? null, removals };
    // The index of what each parameter reaches is built on the first update: build it now, not on the first change.
    applyRuntimeChanges(this.loaded.live, new Map(), { builtAt: this.now().toISOString(), removals });
    if (!this.loadedAt) this.loadedAt = this.now().toISOString();
    this.publish(this.loaded.live, cause, statusChanges);
    this.options.log.info('graph loaded', {
      cause,
      components: result.build.statuses.size,
      vertices: result.snapshot.vertices.length,
      edges: result.snapshot.edges.length,
      ms: Math.round(performance.now() - started),
    });
  }

  private publish(live: LiveState, cause: 'runtime' | 'config' | 'reload', statusChanges: readonly StatusChange[]): void {
    this.version_ += 1;
    this.updatedAt = this.now().toISOString();
    this.current_ = { build: live.build, snapshot: live.snapshot, buildId: null };
    this.options.bus.publish({ type: 'graph.changed', version: this.version_, cause, statusChanges });
    for (const s of statusChanges) {
      if (s.to === 'drifted' && s.from !== 'drifted') this.options.bus.publish({ type: 'drift.found', env: s.env, component: s.component, reason: s.reason });
      if (s.to === 'orphaned' && s.from !== 'orphaned') this.options.bus.publish({ type: 'deployment.orphaned', env: s.env, component: s.component, reason: s.reason });
    }
  }

  private watchConfig(dir: string): void {
    try {
      this.watcher = watch(dir, { recursive: true }, (_event, file) => {
        const first = file ? String(file).split(sep)[0]! : '';
        if (IGNORED.has(first)) return;
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => this.configChanged(`file ${file ?? '?'}`), 200);
      });
      this.watcher.on('error', (error) => this.options.log.warn('config watch failed: config changes are seen on restart only', { error: errorLine(error) }));
    } catch (error) {
      this.options.log.warn('cannot watch the config directory: config changes are seen on restart only', { error: errorLine(error) });
    }
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
