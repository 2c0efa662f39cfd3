/**
 * What the service tells people (issue 13): one event type for the SSE feed (GET /events), the outgoing webhooks
 * and SNS. Events carry names, statuses and one-line reasons, never an input value or an output value: what
 * reaches a browser or a Slack channel cannot leak a secret.
 */
import type { RolloutStatus, RolloutStepStatus } from '../ports.ts';
import type { StatusChange } from '../core/live.ts';
import { NOTIFICATION_EVENT_TYPES } from '../core/model.ts';

/** The event types (lib/core/model.ts keeps the list: karma.yaml's notifications name them). */
export const SERVICE_EVENT_TYPES = NOTIFICATION_EVENT_TYPES;
export type ServiceEventType = (typeof SERVICE_EVENT_TYPES)[number];

/** A deployment whose status changed in the live graph (lib/core/live.ts computes them). */
export type { StatusChange };

export type ServiceEventBody =
  | {
      readonly type: 'graph.changed';
      /** The live graph's version after the change (increases by one per update). */
      readonly version: number;
      /** What moved it: a runtime change (names of parameters), a config change (the commit), a full reload. */
      readonly cause: 'runtime' | 'config' | 'reload';
      readonly statusChanges: readonly StatusChange[];
    }
  | { readonly type: 'change.queued'; readonly change: string; readonly env: string; readonly component: string; readonly actor: string; readonly rollout?: string }
  | { readonly type: 'change.started'; readonly change: string; readonly env: string; readonly component: string; readonly attempt: number; readonly rollout?: string }
  | {
      readonly type: 'change.finished';
      readonly change: string;
      readonly env: string;
      readonly component: string;
      readonly outcome: 'succeeded' | 'failed';
      readonly result: string;
      readonly rollout?: string;
    }
  | { readonly type: 'rollout.step'; readonly rollout: string; readonly component: string; readonly env: string; readonly change: string | null; readonly status: RolloutStepStatus; readonly reason?: string }
  | { readonly type: 'rollout.finished'; readonly rollout: string; readonly component: string; readonly status: RolloutStatus; readonly reason?: string }
  | { readonly type: 'drift.found'; readonly env: string; readonly component: string; readonly reason: string }
  | { readonly type: 'deployment.orphaned'; readonly env: string; readonly component: string; readonly reason: string };

/** An event as delivered: its id (increasing within a process: SSE's Last-Event-ID), its time, its body. */
export type ServiceEvent = ServiceEventBody & { readonly id: number; readonly at: string };

export type EventListener = (event: ServiceEvent) => void;

/**
 * In-process publish/subscribe, with the last `keep` events kept so an SSE client that reconnects with
 * Last-Event-ID gets what it missed. A listener that throws is dropped (it never stops the publisher).
 */
export class EventBus {
  private readonly listeners = new Set<EventListener>();
  private readonly recent: ServiceEvent[] = [];
  private nextId = 1;
  private readonly keep: number;
  private readonly now: () => Date;

  constructor(options: { readonly keep?: number; readonly now?: () => Date } = {}) {
    this.keep = options.keep ?? 500;
    this.now = options.now ?? (() => new Date());
  }

  publish(body: ServiceEventBody): ServiceEvent {
    const event = { ...body, id: this.nextId++, at: this.now().toISOString() } as ServiceEvent;
    this.recent.push(event);
    if (this.recent.length > this.keep) this.recent.splice(0, this.recent.length - this.keep);
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        this.listeners.delete(listener);
      }
    }
    return event;
  }

  /** Calls `listener` for each event from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Kept events with an id above `id` (oldest first). */
  since(id: number): ServiceEvent[] {
    return this.recent.filter((e) => e.id > id);
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}
