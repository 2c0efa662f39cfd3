import { useEffect, useRef, useState } from 'preact/hooks';
import { messageOf, SignedOut } from './api.ts';

export interface Fetched<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  readonly loading: boolean;
}

/**
 * Runs `load` when any of `deps` changes, keeping the last answer on screen while the next one loads (a live
 * update does not blank the view). A load superseded by a newer one is aborted and its answer dropped.
 */
export function useFetch<T>(load: ((signal: AbortSignal) => Promise<T>) | undefined, deps: readonly unknown[]): Fetched<T> {
  const [state, setState] = useState<Fetched<T>>({ data: undefined, error: undefined, loading: load !== undefined });
  const latest = useRef(0);
  useEffect(() => {
    if (!load) {
      setState({ data: undefined, error: undefined, loading: false });
      return undefined;
    }
    const id = ++latest.current;
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    load(controller.signal).then(
      (data) => {
        if (id === latest.current) setState({ data, error: undefined, loading: false });
      },
      (error: unknown) => {
        if (id !== latest.current || controller.signal.aborted || error instanceof SignedOut) return;
        setState((s) => ({ data: s.data, error: messageOf(error), loading: false }));
      },
    );
    return () => controller.abort();
  }, deps);
  return state;
}
