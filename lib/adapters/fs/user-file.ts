/**
 * Reading a file the user names (`karma propose-change --input FILE`, `karma runtime record FILE`, a value piped
 * on stdin) without trusting it:
 *
 *   - a FIFO, a device (/dev/zero), a socket or a directory is refused at once, before it is read (opened with
 *     O_NONBLOCK, so opening a FIFO never waits for a writer);
 *   - at most MAX_CONFIG_FILE_BYTES (1 MiB, the limit for config files) is read, whatever the file claims its size
 *     is (/proc files say 0): one byte more and it is refused, so memory stays bounded;
 *   - a path inside the config repo must stay inside it: a symlink there that leads out of the repository is
 *     refused (a path outside the repo is read as named: the user chose it explicitly);
 *   - no error echoes the file's content, only its path and what to do.
 *
 * Every refusal is a UsageError (exit 2), one line: `<label> <path>: <what is wrong>; <what to do>`.
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import { resolve, sep } from 'node:path';
import { MAX_CONFIG_FILE_BYTES, decodeConfigText, parseConfigDocument, type ParsedDocument } from '../../core/documents.ts';
import { ConfigError, UsageError } from '../../core/errors.ts';

export { MAX_CONFIG_FILE_BYTES };

export interface UserFileOptions {
  /** How the file was named, for messages: `--input`, `record file`. */
  readonly label: string;
  /** The config repo: a path inside it may not leave it through a symlink. */
  readonly repoRoot?: string;
  /** What the file should be, for messages: `a JSON or YAML file with the component's full inputs`. */
  readonly expected?: string;
}

const LIMIT_TEXT = `${MAX_CONFIG_FILE_BYTES}-byte (1 MiB) limit`;

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'ELOOP') return 'too many symlinks';
  return code ?? (error as Error).message;
}

const inside = (root: string, p: string): boolean => p === root || p.startsWith(root + sep);

/**
 * Reads up to `limit` bytes from an open descriptor; undefined when there is more (the caller refuses it).
 * Reads in chunks and never trusts the size the file reports.
 */
export function readBounded(fd: number, limit: number): Buffer | undefined {
  const buffer = Buffer.alloc(Math.min(limit + 1, 64 * 1024));
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      // stdin in non-blocking mode (a terminal, a pipe whose writer is slow): wait and try again.
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        continue;
      }
      throw error;
    }
    if (n === 0) break;
    total += n;
    if (total > limit) return undefined;
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
  return Buffer.concat(chunks, total);
}

/** The file's bytes (at most 1 MiB), or a one-line UsageError. Nothing of its content is ever in the message. */
export function readUserFile(path: string, options: UserFileOptions): Buffer {
  const { label } = options;
  const what = options.expected ?? 'a JSON or YAML file';
  const refuse = (why: string): never => {
    throw new UsageError(`${label} ${path}: ${why}; pass ${what}`);
  };
  const absolute = resolve(path);
  if (options.repoRoot) {
    let root = resolve(options.repoRoot);
    try {
      root = realpathSync(root);
    } catch {
      // a repo that does not exist is reported by whoever loads it
    }
    let real: string | undefined;
    try {
      real = realpathSync(absolute);
    } catch {
      real = undefined; // reported when opened
    }
    if (real !== undefined && (inside(resolve(options.repoRoot), absolute) || inside(root, absolute)) && !inside(root, real)) {
      refuse(`a symlink in the config repo that leads out of it (to ${real}); name the file outside the repo directly`);
    }
  }
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer; it is refused just below.
    fd = openSync(absolute, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    return refuse(`cannot read it (${errnoText(error)})`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) refuse(`${kindOf(stats)}, not a regular file`);
    if (stats.size > MAX_CONFIG_FILE_BYTES) refuse(`file is ${stats.size} bytes, over the ${LIMIT_TEXT} for input files`);
    let bytes: Buffer | undefined;
    try {
      bytes = readBounded(fd, MAX_CONFIG_FILE_BYTES);
    } catch (error) {
      return refuse(`cannot read it (${errnoText(error)})`);
    }
    if (bytes === undefined) refuse(`file is over the ${LIMIT_TEXT} for input files`);
    return bytes!;
  } finally {
    closeSync(fd);
  }
}

/**
 * A user file read safely (readUserFile), decoded as UTF-8 and parsed: `.json` as JSON, anything else as YAML
 * (a superset of JSON). A problem is a ConfigError naming the file and line, never quoting the content.
 */
export function readUserDocument(path: string, options: UserFileOptions): ParsedDocument {
  const bytes = readUserFile(path, options);
  const text = decodeConfigText(path, bytes);
  if (typeof text !== 'string') throw new ConfigError([text]);
  const doc = parseConfigDocument(path.endsWith('.json') ? path : `${path}.yaml`, text);
  if (!('data' in doc)) throw new ConfigError([{ ...doc, file: path }]);
  return { ...doc, file: path };
}

/** Standard input, at most 1 MiB (a secret piped in: `karma runtime put NAME - < file`). */
export function readUserStdin(label: string): Buffer {
  const bytes = readBounded(0, MAX_CONFIG_FILE_BYTES);
  if (bytes === undefined) throw new UsageError(`${label}: standard input is over the ${LIMIT_TEXT}; pipe a smaller value`);
  return bytes;
}
