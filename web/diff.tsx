import type { Proposed } from '../lib/api/types.ts';

/** A proposal's diff of the inputs (as written: a secret is its reference). */
export function Diff({ proposed }: { readonly proposed: Proposed }) {
  if (proposed.diff.length === 0) return <p class="muted">No input changes.</p>;
  const show = (v: unknown): string => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));
  return (
    <table class="diff">
      <thead>
        <tr>
          <th scope="col">Input</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
        </tr>
      </thead>
      <tbody>
        {proposed.diff.map((c) => (
          <tr key={c.path} class={c.kind}>
            <th scope="row">
              {c.path} <span class="muted">({c.kind})</span>
            </th>
            <td>{c.kind === 'added' ? '' : <del>{show(c.before)}</del>}</td>
            <td>{c.kind === 'removed' ? '' : <ins>{show(c.after)}</ins>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
