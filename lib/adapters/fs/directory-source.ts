/**
 * ConfigSource for a directory (a working tree). Reads every file below the root except dot-directories
 * (.git, .karma, .terraform, ...) and node_modules. A symlink is followed only when it stays inside the
 * repository; one that leaves it is a problem, never read.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import type { Problem } from '../../core/errors.ts';
import type { RepoFile } from '../../core/model.ts';
import type { ConfigSource } from '../../ports.ts';
import type { Removal } from '../../core/orphans.ts';

/** Larger files are not read at all (config files have their own, smaller limit in core). */
export const MAX_REPO_FILE_BYTES = 64 * 1024 * 1024;

export class DirectorySource implements ConfigSource {
  readonly root: string;
  readonly description: string;
  constructor(root: string) {
    this.root = resolve(root);
    this.description = this.root;
  }

  async load(): Promise<{ files: RepoFile[]; problems: Problem[] }> {
    const files: RepoFile[] = [];
    const problems: Problem[] = [];
    const realRoot = realpathSync(this.root);
    const inside = (p: string): boolean => p === realRoot || p.startsWith(realRoot + sep);
    const visitedDirs = new Set<string>([realRoot]);

    // `relDir`: the repo-relative POSIX path of `dir` ('' for the root), built as we descend.
    const walk = (dir: string, relDir: string): void => {
      const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const entry of entries) {
        const full = join(dir, entry.name);
        const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
        if (entry.isDirectory()) {
          if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
          walk(full, rel);
          continue;
        }
        let target = full;
        if (entry.isSymbolicLink()) {
          let real: string;
          try {
            real = realpathSync(full);
          } catch {
            problems.push({ file: rel, message: 'broken symlink; remove it or point it at a file inside the repository' });
            continue;
          }
          if (!inside(real)) {
            problems.push({ file: rel, message: `symlink to ${real} leaves the repository; copy the file into the repository instead` });
            continue;
          }
          const stats = statSync(real);
          if (stats.isDirectory()) {
            if (entry.name.startsWith('.') || visitedDirs.has(real)) continue;
            visitedDirs.add(real);
            walk(full, rel);
            continue;
          }
          if (!stats.isFile()) {
            // A FIFO would block the read forever, a device never end: refused before it is opened.
            problems.push({ file: rel, message: 'symlink to something that is not a regular file (a FIFO, a device or a socket); point it at a file' });
            continue;
          }
          target = real;
        } else if (!entry.isFile()) {
          continue;
        }
        const bytes = readLimited(target);
        if (typeof bytes === 'number') {
          problems.push({ file: rel, message: `file is ${bytes} bytes, over the ${MAX_REPO_FILE_BYTES}-byte limit; keep large files out of the config repo` });
          continue;
        }
        files.push({ path: rel, bytes });
      }
    };
    walk(this.root, '');
    return { files, problems };
  }

  /** A directory that is a Git work tree (`.git` at its root): removed deployments are looked up from HEAD. */
  async findRemovals(deployments: readonly { readonly env: string; readonly component: string }[]): Promise<ReadonlyMap<string, Removal>> {
    if (!existsSync(join(this.root, '.git'))) return new Map();
    const { findRemovals } = await import('../git/history.ts'); // isomorphic-git: loaded only for a Git work tree
    return findRemovals(this.root, 'HEAD', deployments, { workingTree: true });
  }
}

/**
 * The file's bytes, or its size when over the limit (then nothing is read). One open, fstat, read and close per
 * file: a repo of 25,000 files is read in a few hundred milliseconds.
 */
function readLimited(path: string): Uint8Array | number {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_REPO_FILE_BYTES) return size;
    if (size === 0) return readFileSync(fd); // maybe not a regular file: read to the end
    const buffer = Buffer.allocUnsafeSlow(size); // its own memory, like readFileSync's result
    let read = 0;
    for (let n = -1; read < size && n !== 0; read += n) n = readSync(fd, buffer, read, size - read, null);
    return read < size ? buffer.subarray(0, read) : buffer;
  } finally {
    closeSync(fd);
  }
}
