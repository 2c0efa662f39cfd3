/**
 * The API client of the UI: every request carries the bearer token of this tab's session; a 401 signs out (the
 * sign-in form comes back); any other error is the route's problem (RFC 9457), whose detail the UI shows.
 */
import type { Problem } from '../lib/api/types.ts';

const TOKEN_KEY = 'karma.token';

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail);
    this.problem = problem;
  }
}

/** A 401: the token was refused. */
export class SignedOut extends Error {}

type Listener = (reason: string) => void;
const signOutListeners = new Set<Listener>();

export const session = {
  get token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut(reason = ''): void {
    sessionStorage.removeItem(TOKEN_KEY);
    for (const l of signOutListeners) l(reason);
  },
  onSignOut(listener: Listener): () => void {
    signOutListeners.add(listener);
    return () => signOutListeners.delete(listener);
  },
};

export function authorised(init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  const token = session.token;
  if (token) headers.set('authorization', `Bearer ${token}`);
  return { ...init, headers };
}

function url(path: string, query: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const q = params.toString();
  return q ? `${path}?${q}` : path;
}

async function answer<T>(response: Response): Promise<T> {
  if (response.status === 401) {
    session.signOut('The server refused this token (401). Sign in again.');
    throw new SignedOut('signed out');
  }
  const type = response.headers.get('content-type') ?? '';
  const body: unknown = type.includes('json') ? await response.json() : await response.text();
  if (!response.ok) {
    const problem = typeof body === 'object' && body !== null && 'detail' in body ? (body as Problem) : { type: 'about:blank', title: response.statusText, status: response.status, detail: String(body).slice(0, 300) || response.statusText };
    throw new ApiError(problem);
  }
  return body as T;
}

export async function get<T>(path: string, query?: Record<string, string | number | undefined>, signal?: AbortSignal): Promise<T> {
  return answer<T>(await fetch(url(path, query), authorised({ ...(signal ? { signal } : {}) })));
}

export async function post<T>(path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const init: RequestInit = { method: 'POST', ...(signal ? { signal } : {}) };
  if (body !== undefined) {
    init.headers = { 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  return answer<T>(await fetch(path, authorised(init)));
}

/** The message to show for a failed request. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.problem.detail;
  if (error instanceof Error) return error.message;
  return String(error);
}
