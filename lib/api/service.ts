/**
 * What the routes only `karma serve` has (issue 13) need from the service: lib/api declares it, lib/service
 * implements it (lib/api never imports lib/service). The Lambda API has none of these routes.
 */
import type { EventBus } from '../app/events.ts';
import type { FailedDelivery, Rollout, RolloutApproval } from '../ports.ts';

/** POST /rollouts. */
export interface RolloutRequest {
  readonly component: string;
  readonly input: Readonly<Record<string, unknown>>;
  /** In order; each starts after the one before succeeded. */
  readonly environments: readonly string[];
  readonly approval?: RolloutApproval;
  readonly message?: string;
}

/** A rollout as the API answers it: everything but the inputs (GET /changes/{id} shows each step's diff). */
export type RolloutView = Omit<Rollout, 'input' | 'version'>;

export function rolloutView(rollout: Rollout): RolloutView {
  const { input: _input, version: _version, ...view } = rollout;
  return view;
}

export interface ServiceHealth {
  /** The live graph: its version (one per update), when it was loaded and last updated. */
  readonly graph: { readonly version: number; readonly loadedAt: string | null; readonly updatedAt: string | null; readonly commit: string | null };
  /** The last write of the live graph to the graph store (diff-based, only when it changed). */
  readonly sync: { readonly at: string | null; readonly buildId: string | null; readonly written: number | null; readonly error: string | null };
  readonly queue: { readonly queued: number; readonly running: number };
}

export interface ServiceEndpoints {
  /** /readyz: ready once the graph is loaded; not ready while stopping. */
  readiness(): { readonly ready: boolean; readonly reason?: string };
  /** Added to /healthz's answer. */
  health(): Promise<ServiceHealth>;
  readonly rollouts: {
    create(request: RolloutRequest, actor: string): Promise<Rollout>;
    get(id: string): Promise<Rollout>;
    list(options: { readonly limit?: number }): Promise<readonly Rollout[]>;
    /** Approves the step waiting for approval; a rollout waiting for none is a ConflictError. */
    approve(id: string, actor: string): Promise<Rollout>;
  };
  /** The live feed (GET /events). */
  readonly events: EventBus;
  failedNotifications(options: { readonly limit?: number }): Promise<readonly FailedDelivery[]>;
}
