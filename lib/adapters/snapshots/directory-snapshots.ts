/** SnapshotStore in a local directory: gzipped JSON files; the reference is the file path. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { StoreError } from '../../core/errors.ts';
import type { GraphSnapshot } from '../../core/snapshot.ts';
import type { SnapshotStore } from '../../ports.ts';

export class DirectorySnapshotStore implements SnapshotStore {
  private readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }
  async put(key: string, snapshot: GraphSnapshot): Promise<string> {
    const safe = key.replace(/[^A-Za-z0-9_.-]/g, '_');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = join(this.dir, `${safe}.json.gz`);
    writeFileSync(file, gzipSync(JSON.stringify(snapshot)));
    return file;
  }
  async get(ref: string): Promise<GraphSnapshot> {
    try {
      return JSON.parse(gunzipSync(readFileSync(ref)).toString('utf8')) as GraphSnapshot;
    } catch (error) {
      throw new StoreError(`cannot read snapshot ${ref}: ${(error as Error).message}`, { cause: error });
    }
  }
}
