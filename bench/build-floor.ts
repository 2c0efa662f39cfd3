/**
 * The floor `npm run bench` compares `karma graph build` with: a separate Node process that only reads the
 * repo's files and parses its config files, nothing else.
 *
 *   node bench/build-floor.ts DIR      prints {"files":N,"parsed":N,"bytes":N,"ms":N,"maxRss":BYTES}
 *
 * It walks the directory like DirectorySource (sorted entries, dot-directories and node_modules skipped), reads
 * every file with one open/fstat/read/close, and parses every config file (karma.yaml, component.yaml, the
 * environments' .json/.yaml) with the parser Karma itself uses (lib/core/documents.ts: JSON.parse for JSON, the
 * plain-YAML fast path, else the `yaml` library). No validation, no graph, no store. It imports nothing else, so
 * its start-up is Node's plus that one module and `yaml`.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { decodeConfigText, parseConfigDocument } from '../lib/core/documents.ts';

const CONFIG_FILE = /^(karma\.ya?ml|components\/[^/]+\/component\.ya?ml|environments\/[^/]+\/[^/]+\.(json|ya?ml))$/;

function readFile(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.allocUnsafeSlow(size);
    let read = 0;
    for (let n = -1; read < size && n !== 0; read += n) n = readSync(fd, buffer, read, size - read, null);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function main(dir: string): void {
  const started = performance.now();
  let files = 0;
  let parsed = 0;
  let bytes = 0;
  const walk = (abs: string, rel: string): void => {
    const entries = readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!entry.name.startsWith('.') && entry.name !== 'node_modules') walk(join(abs, entry.name), path);
        continue;
      }
      if (!entry.isFile()) continue;
      const data = readFile(join(abs, entry.name));
      files++;
      bytes += data.byteLength;
      if (!CONFIG_FILE.test(path)) continue;
      const text = decodeConfigText(path, data);
      if (typeof text !== 'string') throw new Error(`${path}: ${text.message}`);
      const doc = parseConfigDocument(path, text);
      if (!('data' in doc)) throw new Error(`${path}: ${doc.message}`);
      parsed++;
    }
  };
  walk(dir, '');
  const ms = performance.now() - started;
  process.stdout.write(`${JSON.stringify({ files, parsed, bytes, ms, maxRss: process.resourceUsage().maxRSS * 1024 })}\n`);
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node bench/build-floor.ts DIR\n');
  process.exitCode = 2;
} else {
  main(dir);
}
