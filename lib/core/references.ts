/**
 * References inside input values.
 *
 *   ${network.vpc_id}                   output vpc_id of component network, same environment
 *   ${env:karma-shared/dns.zone_id}     output zone_id of component dns in environment karma-shared
 *   ${ssm:/shared/github/token}         an external SSM parameter, read by name
 *   $${...}                             a literal `${...}`, not a reference (as in Terraform)
 *
 * A string that is exactly one reference takes the referenced value as is; a reference inside a longer string
 * is interpolated as text.
 *
 * The grammar, read left to right: `$${` is the escape (it stands for a literal `${`); any other `${` opens a
 * reference that runs to the next `}`, and its body must be one of the three forms above. A `${` with no `}`
 * after it, or a body that is none of the forms, is an error: it would otherwise reach Terraform as text and the
 * dependency would be silently lost. A `}` outside a reference is plain text. Object keys are passed as written,
 * so a reference in a key is an error too.
 */
import type { Reference, ReferenceTarget } from './model.ts';

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const OUTPUT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;
const SSM_PATH = /^\/[A-Za-z0-9_.\-/]{1,1010}$/;

/** What a valid reference looks like: the end of every message about one that is not. */
export const REFERENCE_FORMS = 'use ${component.output}, ${env:<env>/<component>.<output>} or ${ssm:/path} (write $${...} for a literal)';

/** A piece of a string value: text (escapes already turned into `${`) or a reference as written. */
export type TemplatePiece = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'reference'; readonly text: string; readonly body: string };

/**
 * A string value → its pieces, or the message saying why it is not a valid template (an unclosed `${`).
 * Reference bodies are not checked here (parseReferenceBody does that).
 */
export function splitTemplate(value: string): TemplatePiece[] | string {
  const pieces: TemplatePiece[] = [];
  let text = '';
  let i = 0;
  for (;;) {
    const open = value.indexOf('${', i);
    if (open < 0) break;
    if (open > i && value[open - 1] === '$') {
      text += `${value.slice(i, open - 1)}\${`;
      i = open + 2;
      continue;
    }
    const close = value.indexOf('}', open + 2);
    if (close < 0) {
      const rest = value.slice(open);
      return `"${rest.length > 60 ? `${rest.slice(0, 60)}…` : rest}" is not closed: a reference ends with "}"; ${REFERENCE_FORMS}`;
    }
    text += value.slice(i, open);
    if (text !== '') pieces.push({ kind: 'text', text });
    text = '';
    pieces.push({ kind: 'reference', text: value.slice(open, close + 1), body: value.slice(open + 2, close) });
    i = close + 1;
  }
  text += value.slice(i);
  if (text !== '') pieces.push({ kind: 'text', text });
  return pieces;
}

export interface ReferenceProblem {
  /** displayPath of where it stands: `tags.name`, `subnets[0]`. */
  readonly at: string;
  /** The same place as data path segments (exact even when a key holds `.` or `[`): to find the line. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

export function parseReferenceBody(body: string, env: string): ReferenceTarget | string {
  const trimmed = body.trim();
  if (trimmed.startsWith('ssm:')) {
    const path = trimmed.slice(4);
    if (!SSM_PATH.test(path) || path.includes('//')) {
      return `"\${${body}}" is not a valid SSM reference: the path must start with / and use letters, digits, _ . - /`;
    }
    return { kind: 'ssm', path };
  }
  let targetEnv = env;
  let rest = trimmed;
  if (trimmed.startsWith('env:')) {
    const slash = trimmed.indexOf('/');
    if (slash < 0) return `"\${${body}}" is not a valid cross-environment reference: write \${env:<env>/<component>.<output>}`;
    targetEnv = trimmed.slice(4, slash);
    rest = trimmed.slice(slash + 1);
    if (!NAME_PATTERN.test(targetEnv)) {
      return `"\${${body}}" names an invalid environment "${targetEnv}": write \${env:<env>/<component>.<output>} with a name from karma.yaml`;
    }
  }
  const dot = rest.indexOf('.');
  const component = dot < 0 ? rest : rest.slice(0, dot);
  const output = dot < 0 ? '' : rest.slice(dot + 1);
  if (dot < 0 || !NAME_PATTERN.test(component) || !OUTPUT_NAME.test(output)) {
    return `"\${${body}}" is not a reference Karma understands: ${REFERENCE_FORMS}`;
  }
  return { kind: 'output', env: targetEnv, component, output };
}

/**
 * Walks an input value and returns every reference in it, with the JSON path where it stands, in document order.
 * Iterative (an explicit stack): a value nested any number of levels deep cannot overflow the call stack.
 */
export function findReferences(value: unknown, env: string): { references: Reference[]; problems: ReferenceProblem[] } {
  const references: Reference[] = [];
  const problems: ReferenceProblem[] = [];
  interface Frame {
    readonly v: unknown;
    readonly at: string;
    readonly key: string | number | undefined;
    readonly parent: Frame | undefined;
  }
  /** The frame's data path, rebuilt from the parent links only when a problem needs it. */
  const pathOf = (frame: Frame): (string | number)[] => {
    const path: (string | number)[] = [];
    for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) path.push(f.key);
    return path.reverse();
  };
  const stack: Frame[] = [{ v: value, at: '', key: undefined, parent: undefined }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const { v, at } = frame;
    if (typeof v === 'string') {
      if (!v.includes('${')) continue; // most values hold no reference: skip the scan
      const pieces = splitTemplate(v);
      if (typeof pieces === 'string') {
        problems.push({ at, path: pathOf(frame), message: pieces });
        continue;
      }
      for (const piece of pieces) {
        if (piece.kind === 'text') continue;
        const parsed = parseReferenceBody(piece.body, env);
        if (typeof parsed === 'string') problems.push({ at, path: pathOf(frame), message: parsed });
        else references.push({ ...parsed, at, text: piece.text });
      }
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], at: `${at}[${i}]`, key: i, parent: frame });
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, item] = entries[i]!;
        const child: Frame = { v: item, at: at === '' ? k : `${at}.${k}`, key: k, parent: frame };
        if (k.includes('${')) {
          problems.push({ at: child.at, path: pathOf(child), message: `the key "${k}" holds a reference, but keys are passed to Terraform as written; move the reference into a value` });
        }
        stack.push(child);
      }
    }
  }
  return { references, problems };
}

function resolveString(value: string, env: string, lookup: (ref: ReferenceTarget) => unknown): unknown {
  if (!value.includes('${')) return value;
  const pieces = splitTemplate(value);
  if (typeof pieces === 'string') return value; // parseConfig refused it; nothing here to resolve
  const resolve = (piece: TemplatePiece): unknown => {
    if (piece.kind === 'text') return piece.text;
    const parsed = parseReferenceBody(piece.body, env);
    return typeof parsed === 'string' ? piece.text : lookup(parsed);
  };
  if (pieces.length === 1 && pieces[0]!.kind === 'reference') return resolve(pieces[0]!);
  let out = '';
  for (const piece of pieces) {
    const resolved = resolve(piece);
    out += typeof resolved === 'string' ? resolved : JSON.stringify(resolved);
  }
  return out;
}

/**
 * Replaces references with values. `lookup` returns the value of one reference (already decoded: a string
 * output is a string, a list output an array...). A whole-string reference takes the value itself; an
 * embedded one is stringified into the text. `$${` becomes a literal `${`. Returns a copy; iterative, like
 * findReferences.
 */
export function resolveReferences(value: unknown, env: string, lookup: (ref: ReferenceTarget) => unknown): unknown {
  if (typeof value === 'string') return resolveString(value, env, lookup);
  if (value === null || typeof value !== 'object') return value;
  const root = shallowCopy(value);
  // Containers copied from the input, whose members are still to resolve. A looked-up value is never walked.
  const stack: Record<string, unknown>[] = [root];
  while (stack.length > 0) {
    const container = stack.pop()!;
    for (const key of Object.keys(container)) {
      const member = container[key];
      if (typeof member === 'string') container[key] = resolveString(member, env, lookup);
      else if (member !== null && typeof member === 'object') stack.push((container[key] = shallowCopy(member)));
    }
  }
  return root;
}

/**
 * A shallow copy that keeps every own key, `__proto__` included (JSON.parse makes it an own key): assigning to
 * an own key of the copy afterwards sets that key, never the prototype.
 */
function shallowCopy(value: object): Record<string, unknown> {
  return (Array.isArray(value) ? value.slice() : Object.fromEntries(Object.entries(value))) as Record<string, unknown>;
}
