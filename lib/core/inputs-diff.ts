/**
 * A key-level diff of two input objects, for `karma propose-change`: which paths were added, removed or
 * changed, with the value before and after. Plain objects are compared key by key (recursively); arrays and
 * scalars are compared as whole values (a changed list is one change, shown before → after).
 *
 * The inputs as written hold only references to secrets (`${ssm:/path}`), never their values, so printing
 * them is safe.
 */
import { canonicalJson } from './hash.ts';
import { displayPath, type PathSegment } from './documents.ts';

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

/** Changes from `before` to `after`, sorted by path. `before` undefined = every key added. */
export function diffInputs(before: Record<string, unknown> | undefined, after: Record<string, unknown>): InputChange[] {
  const changes: InputChange[] = [];
  const walk = (a: Record<string, unknown>, b: Record<string, unknown>, at: PathSegment[]): void => {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const key of keys) {
      const path = [...at, key];
      const inA = Object.hasOwn(a, key) && a[key] !== undefined;
      const inB = Object.hasOwn(b, key) && b[key] !== undefined;
      if (inA && !inB) changes.push({ path: displayPath(path), kind: 'removed', before: a[key] });
      else if (!inA && inB) changes.push({ path: displayPath(path), kind: 'added', after: b[key] });
      else if (inA && inB) {
        const va = a[key];
        const vb = b[key];
        if (isPlainObject(va) && isPlainObject(vb)) walk(va, vb, path);
        else if (canonicalJson(va) !== canonicalJson(vb)) changes.push({ path: displayPath(path), kind: 'changed', before: va, after: vb });
      }
    }
  };
  walk(before ?? {}, after, []);
  return changes;
}

/** One line per change: `+ path: value`, `- path: value`, `~ path: before → after`. */
export function formatInputChanges(changes: readonly InputChange[]): string[] {
  const show = (v: unknown): string => JSON.stringify(v);
  return changes.map((c) =>
    c.kind === 'added' ? `+ ${c.path}: ${show(c.after)}` : c.kind === 'removed' ? `- ${c.path}: ${show(c.before)}` : `~ ${c.path}: ${show(c.before)} → ${show(c.after)}`,
  );
}
