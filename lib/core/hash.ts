import { hash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped. Two values that mean the
 * same thing (a YAML file and its JSON twin, keys in another order) serialise to the same text.
 *
 * Written as plain loops: it runs for every element of every build (150,000+ for a large repo), and the
 * map/filter/join version spent most of its time allocating intermediate arrays.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // A hole in a sparse array serialises to nothing, as Array.prototype.map + join would have it.
      if (i in value) out += canonicalJson(value[i]);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length > 1) keys.sort();
  let out = '{';
  for (const k of keys) {
    const v = record[k];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${quotedKey(k)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
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
