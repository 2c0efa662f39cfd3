/**
 * Parsing one config file (YAML or JSON) into data, with a way back from a data path to a line number so every
 * problem can be reported as `file:line: message`.
 */
import { LineCounter, parseDocument, isMap, isSeq, isPair, isScalar, type Node as YamlNode } from 'yaml';
import type { Problem } from './errors.ts';
import { NOT_SIMPLE, parseSimpleYaml } from './yaml-subset.ts';

export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

/**
 * Arrays and objects inside each other: at most this many levels in a config file (the document itself is level
 * 1). Deeper documents are refused with `file:line` instead of overflowing the stack in a walker that is not ours
 * (ajv, the yaml library, JSON.stringify when the var file is written). Real inputs stay under ten levels.
 */
export const MAX_NESTING_DEPTH = 100;

export type PathSegment = string | number;

export interface ParsedDocument {
  readonly file: string;
  readonly data: unknown;
  /** The line (1-based) where the value at `path` starts; the nearest existing ancestor when it is absent. */
  lineOf(path: readonly PathSegment[]): number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes → text, or a problem when the file is oversized or not UTF-8. */
export function decodeConfigText(file: string, bytes: Uint8Array): string | Problem {
  if (bytes.byteLength > MAX_CONFIG_FILE_BYTES) {
    return { file, message: `file is ${bytes.byteLength} bytes, over the ${MAX_CONFIG_FILE_BYTES}-byte limit for config files; split it or move data out of the config repo` };
  }
  try {
    const text = utf8.decode(bytes);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    return { file, message: 'file is not valid UTF-8; save it as UTF-8' };
  }
}

function yamlLineFinder(text: string): (path: readonly PathSegment[]) => number {
  let cached: { doc: ReturnType<typeof parseDocument>; lines: LineCounter } | undefined;
  return (path) => {
    if (!cached) {
      const lines = new LineCounter();
      cached = { doc: parseDocument(text, { lineCounter: lines, uniqueKeys: false }), lines };
    }
    const { doc, lines } = cached;
    let node: unknown = doc.contents;
    let line = 1;
    const lineOfNode = (n: unknown): number | undefined => {
      const range = (n as YamlNode | undefined)?.range;
      return range ? lines.linePos(range[0]).line : undefined;
    };
    line = lineOfNode(node) ?? line;
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) break;
        line = lineOfNode(pair.key) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === 'number') {
        node = node.items[segment];
        line = lineOfNode(node) ?? line;
      } else {
        break;
      }
    }
    return line;
  };
}

/**
 * The path to the first array or object nested deeper than `max` levels, or undefined. Iterative (an explicit
 * stack): it must not overflow on the very documents it is there to refuse.
 */
export function pathTooDeep(value: unknown, max = MAX_NESTING_DEPTH): PathSegment[] | undefined {
  interface Frame {
    readonly value: unknown;
    readonly depth: number;
    readonly key: PathSegment | undefined;
    readonly parent: Frame | undefined;
  }
  const stack: Frame[] = [{ value, depth: 1, key: undefined, parent: undefined }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (frame.value === null || typeof frame.value !== 'object') continue;
    if (frame.depth > max) {
      const path: PathSegment[] = [];
      for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) path.push(f.key);
      return path.reverse();
    }
    // Children pushed last-first, so the first one in document order is looked at first.
    const entries: [PathSegment, unknown][] = Array.isArray(frame.value) ? frame.value.map((v, i) => [i, v]) : Object.entries(frame.value);
    for (let i = entries.length - 1; i >= 0; i--) stack.push({ value: entries[i]![1], depth: frame.depth + 1, key: entries[i]![0], parent: frame });
  }
  return undefined;
}

/** The line where JSON text first nests deeper than `max` levels (brackets inside strings do not count). */
function jsonLineTooDeep(text: string, max: number): number | undefined {
  let depth = 0;
  let line = 1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x0a) line++;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return line;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return undefined;
}

function tooDeepMessage(path: readonly PathSegment[] | undefined): string {
  const where = path?.[0] === undefined ? '' : `${displayPath(path.slice(0, 1))}: `;
  return `${where}arrays and objects nested more than ${MAX_NESTING_DEPTH} levels deep; flatten the value (Karma reads at most ${MAX_NESTING_DEPTH} levels)`;
}

/** Parses YAML (`.yaml`, `.yml`) or JSON (`.json`) text. Returns a problem with the line on a syntax error. */
export function parseConfigDocument(file: string, text: string): ParsedDocument | Problem {
  if (file.endsWith('.json')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      const message = (error as Error).message;
      const lineCol = /line (\d+) column (\d+)/.exec(message);
      const position = /position (\d+)/.exec(message);
      const line = lineCol ? Number(lineCol[1]) : position ? text.slice(0, Number(position[1])).split('\n').length : undefined;
      // V8 quotes the text around the error (`Unexpected token 'r', "root:x:0:0"... is not valid JSON`): never
      // echo a file's content (it may be a secret, or a file that was never meant to be read), only where it broke.
      const reason = message
        .replace(/\s*\(line \d+ column \d+\)/, '')
        .replace(/ in JSON at position \d+/, '')
        .replace(/^Unexpected token .*, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, 'Unexpected character')
        .replace(/^"[\s\S]*" is not valid JSON$/, 'not JSON');
      return { file, ...(line === undefined ? {} : { line }), message: `invalid JSON: ${reason}` };
    }
    const deep = pathTooDeep(data);
    if (deep) return { file, line: jsonLineTooDeep(text, MAX_NESTING_DEPTH) ?? 1, message: tooDeepMessage(deep) };
    return { file, data, lineOf: yamlLineFinder(text) };
  }
  // Most config files are plain YAML: read those with the fast path (same result, several times faster); anything
  // else, including every invalid file, goes through the yaml library and its messages.
  const simple = parseSimpleYaml(text);
  if (simple !== NOT_SIMPLE) return yamlDocument(file, text, simple);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = lines.linePos(first.pos[0]).line;
    // RESOURCE_EXHAUSTION: the yaml library ran out of stack on deep flow collections (`[[[[...`).
    if (first.code === 'RESOURCE_EXHAUSTION') return { file, line, message: tooDeepMessage(undefined) };
    const reason =
      first.code === 'MULTIPLE_DOCS'
        ? 'a config file holds one document; remove the "---" separator and what follows it, or split it into files'
        : (first.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? first.message);
    return { file, line, message: `invalid YAML: ${reason}` };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // The yaml library refuses alias expansions that explode ("billion laughs"): invalid input, not a crash.
    const reason = /alias/i.test((error as Error).message) ? 'too many alias expansions (over 100); write the values out' : (error as Error).message;
    return { file, line: 1, message: `invalid YAML: ${reason}` };
  }
  return yamlDocument(file, text, data);
}

function yamlDocument(file: string, text: string, data: unknown): ParsedDocument | Problem {
  const lineOf = yamlLineFinder(text);
  const deep = pathTooDeep(data);
  if (deep) return { file, line: lineOf(deep), message: tooDeepMessage(deep) };
  return { file, data, lineOf };
}

/** `/a/b/0` (a JSON pointer, as ajv reports) → ['a', 'b', 0]. */
export function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** ['vpc', 'subnets', 0] → `vpc.subnets[0]` */
export function displayPath(path: readonly PathSegment[]): string {
  return path.reduce<string>((acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc === '' ? s : `${acc}.${s}`), '');
}
