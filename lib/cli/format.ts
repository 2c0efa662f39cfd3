/**
 * Presentation: tables, waves, plurals, DOT and Mermaid. Plain functions over plain values.
 */
import { MAX_EXPLAIN_INDENT, type Status } from '../core/status.ts';
import type { Why, WhyStep } from '../app/queries.ts';
import type { Waves } from '../core/order.ts';
import type { Paint } from './io.ts';
export { table } from '../core/table.ts';
export { agree, plural } from '../shared/plural.ts';

export function statusPaint(status: Status, p: Record<'red' | 'green' | 'yellow' | 'cyan' | 'magenta' | 'dim', Paint>): Paint {
  switch (status) {
    case 'in-sync':
      return p.green;
    case 'failed':
      return p.red;
    case 'blocked':
      return p.magenta;
    case 'never-applied':
      return p.dim;
    case 'drifted':
      return p.red;
    default:
      return p.yellow;
  }
}


export function formatWaves(waves: Waves): string {
  if (waves.length === 0) return '  (nothing)';
  return waves.map((w, i) => `  wave ${i + 1}: ${w.join(', ')}`).join('\n');
}

export { picture, edgeLabel, toDot, toMermaid, STATUS_COLOURS, MAX_EDGE_OUTPUTS, type Picture, type PictureNode, type PictureEdge, type PictureParam } from '../core/graph-text.ts';

/**
 * `graph why` as text: one line per step, indented by depth (at most MAX_EXPLAIN_INDENT levels), a deployment
 * of another environment than the subject's named `env/component`.
 */
export function formatWhy(why: Why): string[] {
  const indent = (depth: number): string => '  '.repeat(Math.min(depth, MAX_EXPLAIN_INDENT));
  const name = (step: WhyStep): string => (step.env === why.env ? step.component : `${step.env}/${step.component}`);
  return why.chain.map((step) => {
    switch (step.kind) {
      case 'status':
        return `${indent(step.depth)}${name(step)} is ${step.status}: ${step.reason}`;
      case 'once-unblocked':
        return `${indent(step.depth)}once unblocked, ${name(step)} is ${step.status}: ${step.reason}`;
      case 'advice':
        return `${indent(step.depth)}${step.advice}`;
    }
  });
}
