/**
 * SnapshotStore in a local directory: gzipped JSON files (0600, in a 0700 folder); the reference is the file
 * path. `put(..., { keep })` then deletes all but the newest `keep` files (by modification time, then name).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { StoreError } from '../../core/errors.ts';
import type { GraphSnapshot } from '../../core/snapshot.ts';
import type { SnapshotStore } from '../../ports.ts';

const SUFFIX = '.json.gz';

export class DirectorySnapshotStore implements SnapshotStore {
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }
  async put(key: string, snapshot: GraphSnapshot, options: { keep?: number } = {}): Promise<string> {
    const safe = key.replace(/[^A-Za-z0-9_.-]/g, '_');
    const file = join(this.dir, `${safe}${SUFFIX}`);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileSync(file, gzipSync(JSON.stringify(snapshot)), { mode: 0o600 });
      if (options.keep !== undefined) this.prune(options.keep, file);
    } catch (error) {
      throw new StoreError(`cannot write snapshot ${file}: ${(error as Error).message}`, { cause: error });
    }
    return file;
  }
  /** Deletes all but the newest `keep` snapshots; `current` (just written) is always kept. */
  private prune(keep: number, current: string): void {
    const files = readdirSync(this.dir)
      .filter((n) => n.endsWith(SUFFIX))
      .map((n) => ({ path: join(this.dir, n), at: statSync(join(this.dir, n)).mtimeMs }))
      .sort((a, b) => b.at - a.at || (a.path < b.path ? 1 : -1));
    for (const old of files.filter((f) => f.path !== current).slice(Math.max(keep - 1, 0))) rmSync(old.path, { force: true });
  }
  async get(ref: string): Promise<GraphSnapshot> {
    try {
      return JSON.parse(gunzipSync(readFileSync(ref)).toString('utf8')) as GraphSnapshot;
    } catch (error) {
      throw new StoreError(`cannot read snapshot ${ref}: ${(error as Error).message}`, { cause: error });
    }
  }
}
