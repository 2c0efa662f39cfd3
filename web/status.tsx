/**
 * Status words and colours: the same fill and border per status as DOT and Mermaid (lib/core/graph-text.ts).
 * Every status is shown as its word too, never by colour alone. The words are on the fill in near-black: at
 * least 4.5:1 on every fill (WCAG AA).
 */
import { STATUS_COLOURS, type Status } from '../lib/api/types.ts';

export const INK = '#1b1f24';

export function statusColours(status: string): { fill: string; stroke: string } {
  return STATUS_COLOURS[status as Status] ?? { fill: '#ffffff', stroke: '#424242' };
}

function Badge({ label, colours }: { readonly label: string; readonly colours: { fill: string; stroke: string } }) {
  return (
    <span class="badge" style={{ background: colours.fill, borderColor: colours.stroke, color: INK }}>
      {label}
    </span>
  );
}

export function StatusBadge({ status }: { readonly status: string }) {
  return <Badge label={status} colours={statusColours(status)} />;
}

/** Colours of a change's or a rollout step's status. */
const WORK: Readonly<Record<string, Status>> = {
  proposed: 'pending',
  proposing: 'pending',
  pending: 'never-applied',
  queued: 'pending',
  applying: 'stale-inputs',
  running: 'stale-inputs',
  'waiting-approval': 'blocked',
  succeeded: 'in-sync',
  failed: 'failed',
  rejected: 'orphaned',
  skipped: 'never-applied',
};

export function workColours(status: string): { fill: string; stroke: string } {
  return statusColours(WORK[status] ?? status);
}

/** A change's or a rollout's status. */
export function WorkBadge({ status }: { readonly status: string }) {
  return <Badge label={status} colours={workColours(status)} />;
}
