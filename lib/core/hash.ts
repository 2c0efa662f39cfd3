import { hash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped. Two values that mean the
 * same thing (a YAML file and its JSON twin, keys in another order) serialise to the same text.
 *
 * Recursive for the usual value (a few levels: every deployment's inputs and every component definition on every
 * build, several times faster than the explicit stack); a value nested deeper than FAST_DEPTH levels is written
 * again by the iterative form, so no depth can overflow the call stack. Both write the same text.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return scalarJson(value);
  const fast = fastJson(value, 0);
  return fast === TOO_DEEP ? iterativeJson(value) : fast;
}

/** Levels the recursive form goes down before handing the value to the iterative one. */
const FAST_DEPTH = 64;
const TOO_DEEP = '\u0000too deep';

function fastJson(value: object, depth: number): string {
  if (depth > FAST_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // A hole in a sparse array serialises to nothing (as in the iterative form).
      if (!(i in value)) continue;
      const v: unknown = value[i];
      if (v === null || typeof v !== 'object') out += scalarJson(v);
      else {
        const inner = fastJson(v, depth + 1);
        if (inner === TOO_DEEP) return TOO_DEEP;
        out += inner;
      }
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length > 1) keys.sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const v = record[key];
    if (v === undefined) continue;
    out += first ? `${quotedKey(key)}:` : `,${quotedKey(key)}:`;
    first = false;
    if (v === null || typeof v !== 'object') out += scalarJson(v);
    else {
      const inner = fastJson(v, depth + 1);
      if (inner === TOO_DEEP) return TOO_DEEP;
      out += inner;
    }
  }
  return `${out}}`;
}

/** The explicit-stack form: any depth. */
function iterativeJson(value: object): string {
  let out = '';
  // What is left to write, last first: a string is written as it is (punctuation, a quoted key), a Box is a value.
  const todo: (string | Box)[] = [new Box(value)];
  while (todo.length > 0) {
    const item = todo.pop()!;
    if (typeof item === 'string') {
      out += item;
      continue;
    }
    const v = item.value;
    if (v === null || typeof v !== 'object') {
      out += scalarJson(v);
    } else if (Array.isArray(v)) {
      out += '[';
      todo.push(']');
      for (let i = v.length - 1; i >= 0; i--) {
        // A hole in a sparse array serialises to nothing, as Array.prototype.map + join would have it.
        if (i in v) todo.push(new Box(v[i]));
        if (i > 0) todo.push(',');
      }
    } else {
      const record = v as Record<string, unknown>;
      const keys = Object.keys(record).filter((k) => record[k] !== undefined);
      if (keys.length > 1) keys.sort();
      out += '{';
      todo.push('}');
      for (let i = keys.length - 1; i >= 0; i--) {
        todo.push(new Box(record[keys[i]!]), `${i > 0 ? ',' : ''}${quotedKey(keys[i]!)}:`);
      }
    }
  }
  return out;
}

/** A value still to serialise (told apart from the text already made on the same stack). */
class Box {
  readonly value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
}

function scalarJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? 'null' : text;
}

/** JSON.stringify of object keys, remembered: the same few keys (label, props, name...) come back all the time. */
const quotedKeys = new Map<string, string>();
function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 10_000) quotedKeys.set(key, quoted); // bounded: input documents bring arbitrary keys
  }
  return quoted;
}

/** sha256 hex of a string (as UTF-8) or bytes. */
export function sha256(data: string | Uint8Array): string {
  // crypto.hash: the one-shot form, without a Hash object per call; same digest as createHash().update().digest().
  return hash('sha256', data, 'hex');
}

/** A short content hash (128 bits): enough to tell versions of one element apart, cheap to store and compare. */
export function contentHash(value: unknown): string {
  return sha256(canonicalJson(value)).slice(0, 32);
}
