/**
 * Build history in a directory (the BuildHistory port, lib/ports.ts), used beside the Neptune graph store.
 * Neptune holds the live graph; a gzipped snapshot per build is a poor fit for a graph database (large string
 * properties, no blob type, billed I/O), so the history lives beside it. Layout:
 *
 *   <dir>/<id>.json            the BuildRecord plus the build's meta (small, listed without reading snapshots)
 *   <dir>/<id>.snapshot.json.gz the whole snapshot, gzipped
 *
 * Ids sort by time (`<builtAt as yyyymmddThhmmssSSS>-<random>`), so listing is a directory read. The newest
 * `keep` builds are kept. An object-store implementation (S3: the same two objects per build under a
 * prefix) fits the same interface; see docs/backends.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { StoreError } from '../../core/errors.ts';
import { buildRecord, type BuildMeta, type GraphSnapshot, type WriteStats } from '../../core/snapshot.ts';
import type { BuildHistory, BuildRecord } from '../../ports.ts';

interface RecordFile {
  readonly record: BuildRecord;
  readonly meta: BuildMeta;
}

const ID = /^\d{8}T\d{9}-[0-9a-f]{6}$/;

export class DirectoryBuildHistory implements BuildHistory {
  readonly dir: string;
  readonly description: string;
  private readonly keep: number;
  constructor(dir: string, options: { keep?: number } = {}) {
    this.dir = dir;
    this.keep = options.keep ?? 50;
    this.description = `build history in ${dir}`;
  }

  async record(snapshot: GraphSnapshot, stats: WriteStats): Promise<BuildRecord> {
    const stamp = (Number.isNaN(Date.parse(snapshot.meta.builtAt)) ? new Date() : new Date(snapshot.meta.builtAt)).toISOString().replace(/[-:Z]/g, '').replace('.', '');
    const id = `${stamp}-${randomBytes(3).toString('hex')}`;
    const record: BuildRecord = buildRecord(id, snapshot, stats);
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // Snapshot first, record last (renamed into place): a listed build always has its snapshot.
      await writeFile(join(this.dir, `${id}.snapshot.json.gz`), gzipSync(JSON.stringify(snapshot), { level: 6 }), { mode: 0o600 });
      const tmp = join(this.dir, `.${id}.json.tmp`);
      await writeFile(tmp, JSON.stringify({ record, meta: snapshot.meta } satisfies RecordFile), { mode: 0o600 });
      await rename(tmp, join(this.dir, `${id}.json`));
      const ids = await this.ids();
      for (const old of ids.slice(this.keep)) {
        await rm(join(this.dir, `${old}.json`), { force: true });
        await rm(join(this.dir, `${old}.snapshot.json.gz`), { force: true });
      }
    } catch (error) {
      throw new StoreError(`cannot record the build in ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
    return record;
  }

  /** Ids, newest first. */
  private async ids(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StoreError(`cannot read the build history in ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
    return names
      .filter((n) => n.endsWith('.json') && ID.test(n.slice(0, -5)))
      .map((n) => n.slice(0, -5))
      .sort()
      .reverse();
  }

  private async readRecord(id: string): Promise<RecordFile | undefined> {
    try {
      return JSON.parse(await readFile(join(this.dir, `${id}.json`), 'utf8')) as RecordFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StoreError(`cannot read build ${id} in ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
  }

  async list(limit = 20): Promise<BuildRecord[]> {
    const out: BuildRecord[] = [];
    for (const id of (await this.ids()).slice(0, limit)) {
      const r = await this.readRecord(id);
      if (r) out.push(r.record);
    }
    return out;
  }

  async read(id: string): Promise<GraphSnapshot | undefined> {
    if (!ID.test(id)) return undefined;
    try {
      return JSON.parse(gunzipSync(await readFile(join(this.dir, `${id}.snapshot.json.gz`))).toString('utf8')) as GraphSnapshot;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StoreError(`cannot read build ${id} in ${this.dir}: ${(error as Error).message}`, { cause: error });
    }
  }

  async latestMeta(): Promise<BuildMeta | undefined> {
    const [newest] = await this.ids();
    return newest ? (await this.readRecord(newest))?.meta : undefined;
  }
}
