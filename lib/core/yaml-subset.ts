/**
 * A fast path for the plain YAML most config files are written in. The `yaml` library is exact but slow (about
 * 0.3 ms for a 50-line component.yaml, over a second for 5,000 of them); this reads a conservative subset in a
 * fraction of that and gives up — returns NOT_SIMPLE — on anything outside it, so the caller parses the text
 * with the `yaml` library as before. For every text it accepts, the result equals `yaml`'s
 * `parseDocument(text, { uniqueKeys: true }).toJS()` (test/unit/core/yaml-subset.test.ts compares the two).
 *
 * The subset:
 *   - block mappings `key: value` / `key:` + a nested block, keys plain identifiers (letters, digits, _ . -;
 *     not true/false/null-like), unique;
 *   - block sequences `- value`, `- key: value` (a mapping in a sequence), also "compact" under a key;
 *   - values: plain scalars on one line, resolved with YAML 1.2's core schema exactly as `yaml` does (null,
 *     booleans, ints in base 10/8/16, floats, .inf, .nan, else a string); single or double-quoted strings
 *     without escapes; one-line flow sequences of plain scalars `[a, b]`; `[]` and `{}`;
 *   - blank lines, full-line comments and ` # trailing` comments.
 * Everything else (anchors, aliases, tags, block scalars, multi-line scalars, flow mappings, escapes, tabs,
 * CR, document markers, directives, duplicate keys...) is NOT_SIMPLE.
 */

export const NOT_SIMPLE: unique symbol = Symbol('not simple YAML');

class NotSimple extends Error {}
const bail = (): never => {
  throw new NotSimple();
};

const KEY = /^([A-Za-z_][A-Za-z0-9_.-]*):(?: +|$)/;
const RESERVED_KEY = /^(?:[Nn]ull|NULL|[Tt]rue|TRUE|[Ff]alse|FALSE|__proto__)$/;
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT = /^0o[0-7]+$/;
const INT = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;
/** Tabs, CR, control characters and Unicode spaces or line breaks (JavaScript's trim would eat some of them). */
// eslint-disable-next-line no-control-regex
const UNUSUAL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/;
/** Characters a plain scalar may not start with (YAML's indicators), `-` handled apart. */
const INDICATOR = /^[?:,[\]{}#&*!|>'"%@`]/;

/** A plain scalar's value under the core schema, in `yaml`'s order of tests. */
function resolvePlain(s: string): unknown {
  if (NULL.test(s)) return null;
  if (BOOL.test(s)) return s[0] === 't' || s[0] === 'T';
  if (INT_OCT.test(s)) return parseInt(s.substring(2), 8);
  if (INT.test(s)) return parseInt(s, 10);
  if (INT_HEX.test(s)) return parseInt(s.substring(2), 16);
  if (FLOAT_NAN.test(s)) return s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  if (FLOAT_EXP.test(s) || FLOAT.test(s)) return parseFloat(s);
  return s;
}

/** A plain scalar in block context: one line, no `: `, no indicator at the start, nothing ambiguous. */
function plainScalar(s: string): unknown {
  if (s === '' || INDICATOR.test(s) || s.includes(': ') || s.endsWith(':') || s.includes(' #')) bail();
  if (s[0] === '-' && (s.length === 1 || s[1] === ' ')) bail();
  return resolvePlain(s);
}

/** The value after `key: ` or `- ` (comments not yet removed); undefined when it is empty (a block may follow). */
function inlineValue(raw: string): unknown {
  if (raw === '' || raw[0] === '#') return undefined;
  const c = raw[0];
  if (c === '"' || c === "'") {
    const end = raw.indexOf(c, 1);
    if (end < 0) bail();
    const body = raw.slice(1, end);
    if (c === '"' && body.includes('\\')) bail();
    const rest = raw.slice(end + 1);
    if (rest !== '' && !/^ +(#.*)?$/.test(rest)) bail(); // e.g. a '' escape, or text after the quote
    return body;
  }
  // Strip a trailing comment: `#` after a space.
  const hash = raw.indexOf(' #');
  const text = (hash < 0 ? raw : raw.slice(0, hash)).trimEnd();
  if (text === '[]') return [];
  if (text === '{}') return {};
  if (c === '[') {
    if (!text.endsWith(']')) bail();
    const items = text.slice(1, -1).split(',');
    return items.map((item) => {
      const s = item.trim();
      if (s === '' || /[[\]{}"'#:]/.test(s)) bail();
      return plainScalar(s);
    });
  }
  return plainScalar(text);
}

interface Line {
  indent: number;
  text: string;
}

/** Parses `text` if it is in the subset; NOT_SIMPLE otherwise. */
export function parseSimpleYaml(text: string): unknown {
  if (UNUSUAL.test(text)) return NOT_SIMPLE;
  const lines: Line[] = [];
  for (const raw of text.split('\n')) {
    const trimmed = raw.trimStart();
    if (trimmed === '' || trimmed[0] === '#') continue;
    if (raw.length > 1000) return NOT_SIMPLE; // `yaml` limits implicit keys to 1024 characters
    if (raw.startsWith('---') || raw.startsWith('...') || raw[0] === '%') return NOT_SIMPLE;
    lines.push({ indent: raw.length - trimmed.length, text: trimmed.trimEnd() });
  }
  if (lines.length === 0 || lines[0]!.indent !== 0) return NOT_SIMPLE;
  let i = 0;

  const isItem = (line: Line): boolean => line.text === '-' || line.text.startsWith('- ');

  const block = (indent: number): unknown => (isItem(lines[i]!) ? sequence(indent) : mapping(indent));

  /** The value of a key or item whose inline part is empty: a nested block, or null. */
  const nested = (indent: number, allowCompact: boolean): unknown => {
    const next = lines[i];
    if (next && next.indent > indent) return block(next.indent);
    if (allowCompact && next && next.indent === indent && isItem(next)) return sequence(indent);
    return null;
  };

  const mapping = (indent: number): Record<string, unknown> => {
    const map: Record<string, unknown> = {};
    while (i < lines.length) {
      const line = lines[i]!;
      if (line.indent < indent) break;
      if (line.indent > indent || isItem(line)) bail();
      const m = KEY.exec(line.text);
      if (!m) bail();
      const key = m![1]!;
      if (RESERVED_KEY.test(key) || Object.hasOwn(map, key)) bail();
      i++;
      const value = inlineValue(line.text.slice(m![0].length));
      map[key] = value === undefined ? nested(indent, true) : value;
      if (value !== undefined && i < lines.length && lines[i]!.indent > indent) bail(); // a multi-line scalar
    }
    return map;
  };

  const sequence = (indent: number): unknown[] => {
    const seq: unknown[] = [];
    while (i < lines.length) {
      const line = lines[i]!;
      if (line.indent < indent || (line.indent === indent && !isItem(line))) break;
      if (line.indent > indent || line.text === '-') bail();
      const rest = line.text.slice(2);
      const spaces = rest.length - rest.trimStart().length;
      const content = rest.trimStart();
      if (content === '' || content[0] === '#' || isItem({ indent: 0, text: content })) bail();
      if (KEY.test(content)) {
        // `- key: value`: a mapping whose keys stand where `key` stands.
        line.indent = indent + 2 + spaces;
        line.text = content;
        seq.push(mapping(line.indent));
      } else {
        i++;
        seq.push(inlineValue(content));
        if (i < lines.length && lines[i]!.indent > indent) bail();
      }
    }
    return seq;
  };

  try {
    const value = block(0);
    return i === lines.length ? value : NOT_SIMPLE;
  } catch (error) {
    if (error instanceof NotSimple) return NOT_SIMPLE;
    throw error;
  }
}
