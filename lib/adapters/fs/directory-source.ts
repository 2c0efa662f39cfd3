/**
 * ConfigSource for a directory (a working tree). Reads every file below the root except dot-directories
 * (.git, .karma, .terraform, ...) and node_modules. A symlink is followed only when it stays inside the
 * repository; one that leaves it is a problem, never read.
 */
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { Problem } from '../../core/errors.ts';
import type { RepoFile } from '../../core/model.ts';
import type { ConfigSource } from '../../ports.ts';

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
    const toPosix = (p: string): string => relative(this.root, p).split(sep).join('/');

    const walk = (dir: string): void => {
      const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const entry of entries) {
        const full = join(dir, entry.name);
        const rel = toPosix(full);
        if (entry.isDirectory()) {
          if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
          walk(full);
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
          if (statSync(real).isDirectory()) {
            if (entry.name.startsWith('.') || visitedDirs.has(real)) continue;
            visitedDirs.add(real);
            walk(full);
            continue;
          }
          target = real;
        } else if (!entry.isFile()) {
          continue;
        }
        const size = lstatSync(target).size;
        if (size > MAX_REPO_FILE_BYTES) {
          problems.push({ file: rel, message: `file is ${size} bytes, over the ${MAX_REPO_FILE_BYTES}-byte limit; keep large files out of the config repo` });
          continue;
        }
        files.push({ path: rel, bytes: readFileSync(target) });
      }
    };
    walk(this.root);
    return { files, problems };
  }
}
