/**
 * A key-level diff of two input objects, for `karma propose-change`: which paths were added, removed or
 * changed, with the value before and after. Plain objects are compared key by key (nested ones too); arrays and
 * scalars are compared as whole values (a changed list is one change, shown before → after).
 *
 * The inputs as written hold only references to secrets (`${ssm:/path}`), never their values, so printing
 * them is safe.
 */
import { canonicalJson } from './hash.ts';

export interface InputChange {
  /** `a.b`, `subnets`, ... (displayPath of the data path). */
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly before?: unknown;
  readonly after?: unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Changes from `before` to `after`, sorted by path. `before` undefined = every key added. Iterative: any depth. */
export function diffInputs(before: Record<string, unknown> | undefined, after: Record<string, unknown>): InputChange[] {
  const changes: InputChange[] = [];
  // One frame per pair of objects being compared; a nested pair is finished before its parent goes on, so the
  // changes come out in the order a recursive walk would give.
  interface Frame {
    readonly a: Record<string, unknown>;
    readonly b: Record<string, unknown>;
    /** displayPath of the pair's place: `a.b` (built as text, not re-joined at every level). */
    readonly at: string;
    readonly keys: string[];
    next: number;
  }
  const frame = (a: Record<string, unknown>, b: Record<string, unknown>, at: string): Frame => ({
    a,
    b,
    at,
    keys: [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(),
    next: 0,
  });
  const stack: Frame[] = [frame(before ?? {}, after, '')];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.keys.length) {
      stack.pop();
      continue;
    }
    const { a, b } = top;
    const key = top.keys[top.next++]!;
    const path = top.at === '' ? key : `${top.at}.${key}`;
    const inA = Object.hasOwn(a, key) && a[key] !== undefined;
    const inB = Object.hasOwn(b, key) && b[key] !== undefined;
    if (inA && !inB) changes.push({ path, kind: 'removed', before: a[key] });
    else if (!inA && inB) changes.push({ path, kind: 'added', after: b[key] });
    else if (inA && inB) {
      const va = a[key];
      const vb = b[key];
      if (isPlainObject(va) && isPlainObject(vb)) stack.push(frame(va, vb, path));
      else if (canonicalJson(va) !== canonicalJson(vb)) changes.push({ path, kind: 'changed', before: va, after: vb });
    }
  }
  return changes;
}

/** One line per change: `+ path: value`, `- path: value`, `~ path: before → after`. */
export function formatInputChanges(changes: readonly InputChange[]): string[] {
  const show = (v: unknown): string => JSON.stringify(v);
  return changes.map((c) =>
    c.kind === 'added' ? `+ ${c.path}: ${show(c.after)}` : c.kind === 'removed' ? `- ${c.path}: ${show(c.before)}` : `~ ${c.path}: ${show(c.before)} → ${show(c.after)}`,
  );
}
