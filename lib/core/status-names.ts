/**
 * The status words and their colours, alone in a module that imports nothing: what every picture of the graph
 * uses (DOT, Mermaid, the web UI, which bundles this file and no more of core). docs/statuses.md says what each
 * means; lib/core/status.ts computes them.
 */
export const STATUSES = ['never-applied', 'in-sync', 'pending', 'stale-inputs', 'blocked', 'failed', 'drifted', 'orphaned'] as const;
export type Status = (typeof STATUSES)[number];

/** Fill and border colours per status, shared by DOT, Mermaid and the web UI (docs/graph.md lists them). */
export const STATUS_COLOURS: Readonly<Record<Status, { readonly fill: string; readonly stroke: string }>> = {
  'never-applied': { fill: '#eeeeee', stroke: '#757575' },
  'in-sync': { fill: '#d4edda', stroke: '#2e7d32' },
  pending: { fill: '#fff3cd', stroke: '#b8860b' },
  'stale-inputs': { fill: '#ffe0b2', stroke: '#e65100' },
  blocked: { fill: '#e1bee7', stroke: '#7b1fa2' },
  failed: { fill: '#f8d7da', stroke: '#c62828' },
  drifted: { fill: '#fce4ec', stroke: '#ad1457' },
  orphaned: { fill: '#ffffff', stroke: '#424242' },
};
