/**
 * Warnings every run prints on stderr (even with --json, whose stdout stays pure JSON): things that need a
 * human but are not failures.
 */
import type { IO } from './io.ts';

/** One line per orphaned deployment (removed from the config, resources still there). */
export function warnOrphans(io: IO, orphans: readonly { readonly env: string; readonly component: string }[]): void {
  for (const o of orphans) {
    io.err(
      `karma: warning: ${o.env}/${o.component} is orphaned: removed from the config, its resources still exist; karma destroy ${o.component} ${o.env} or karma forget ${o.component} ${o.env}`,
    );
  }
}
