/**
 * The live feed (GET /events, server-sent events) for the whole UI. The browser's own EventSource cannot send an
 * Authorization header, and the token must not go in a URL (access logs keep URLs): the `eventsource` package is
 * the WHATWG EventSource over fetch, with the header added. It reconnects by itself, resuming with
 * Last-Event-ID, so no event is missed across a short drop.
 */
import { EventSource } from 'eventsource';
import { useEffect, useState } from 'preact/hooks';
import { SERVICE_EVENT_TYPES, type ServiceEvent } from '../lib/api/types.ts';
import { authorised, session } from './api.ts';

export type FeedState = 'connecting' | 'live' | 'offline';
type Listener = (event: ServiceEvent) => void;

const listeners = new Set<Listener>();
const stateListeners = new Set<(s: FeedState) => void>();
let source: EventSource | undefined;
let state: FeedState = 'connecting';

function setState(next: FeedState): void {
  state = next;
  for (const l of stateListeners) l(next);
}

export function connectFeed(): () => void {
  source?.close();
  setState('connecting');
  const es = new EventSource('/events', { fetch: (input, init) => fetch(input, authorised(init as RequestInit)) });
  source = es;
  es.addEventListener('open', () => setState('live'));
  es.addEventListener('error', (e) => {
    const code = (e as { code?: number }).code;
    if (code === 401) {
      es.close();
      session.signOut('The server refused this token (401). Sign in again.');
      return;
    }
    setState(es.readyState === es.CLOSED ? 'offline' : 'connecting');
  });
  const deliver = (e: MessageEvent<string>): void => {
    let event: ServiceEvent;
    try {
      event = JSON.parse(e.data) as ServiceEvent;
    } catch {
      return;
    }
    for (const l of listeners) l(event);
  };
  for (const type of SERVICE_EVENT_TYPES) {
    es.addEventListener(type, deliver as (e: Event) => void);
  }
  return () => {
    es.close();
    if (source === es) source = undefined;
  };
}

/** Calls `listener` with each event while the component is mounted. */
export function useEvents(listener: Listener, deps: readonly unknown[] = []): void {
  useEffect(() => {
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, deps);
}

export function useFeedState(): FeedState {
  const [s, set] = useState(state);
  useEffect(() => {
    stateListeners.add(set);
    return () => void stateListeners.delete(set);
  }, []);
  return s;
}

/** A number that grows with each event matching `filter`: a dependency that makes a view fetch again. */
export function useEventVersion(filter: (e: ServiceEvent) => boolean): number {
  const [version, setVersion] = useState(0);
  useEvents((e) => {
    if (filter(e)) setVersion((v) => v + 1);
  });
  return version;
}
