/**
 * A workspace: one Karma installation as the API sees it (a config repo, a backend, a place to run applies).
 * `karma serve` opens a local one (lib/app/local-workspace.ts); the API Lambda functions open one on Git +
 * SSM + Neptune + the state machine (lib/app/aws-workspace.ts). The route table (lib/api) calls only this
 * interface and the view functions (lib/app/views.ts), which the CLI calls too.
 */
import type { Build } from '../core/graph.ts';
import type { GraphSnapshot } from '../core/snapshot.ts';
import type { AuditEntry } from '../ports.ts';
import type { Change, ChangeRequest as ProposalRequest, RequestedChange } from './changes.ts';
import type { PipelineJson } from './pipeline/local-run.ts';

/** One live build: statuses and the graph, computed from config + runtime. */
export interface Current {
  readonly build: Build;
  readonly snapshot: GraphSnapshot;
  /** The store's build id when this build was written (refresh), else null. */
  readonly buildId: string | null;
}

/** A graph as a store holds it, and the store's build id when known. */
export interface StoredGraph {
  readonly snapshot: GraphSnapshot;
  readonly buildId: string | null;
}

/** A page of the audit log (GET /audit, `karma audit --json`). */
export interface AuditPage {
  readonly entries: readonly AuditEntry[];
  /** The cursor of the next page (`?after=`), null on the last page. */
  readonly next: string | null;
}

/** A pipeline run (GET /executions/{id}; `karma pipeline status --json` prints the same keys). */
export interface ExecutionView {
  readonly executionArn: string;
  readonly status: string;
  readonly startDate: string;
  readonly stopDate: string | null;
  readonly error: string | null;
  readonly cause: string | null;
  /** The result table (lib/app/pipeline/model.ts Summary) once it finished. */
  readonly summary: unknown;
}

/** A local pipeline run (the dependents of an apply) as GET /executions/{id} answers it, once it ended. */
export function executionOfRun(run: PipelineJson, startDate: string, stopDate: string = new Date().toISOString()): ExecutionView {
  return { executionArn: run.executionId, status: run.status, startDate, stopDate, error: run.error ?? null, cause: run.cause ?? null, summary: run.summary };
}

/** POST /request-change: `karma propose-change` with the inputs in the body instead of a file. */
export interface ChangeRequest {
  readonly component: string;
  readonly env: string;
  readonly input: Readonly<Record<string, unknown>>;
  readonly message?: string;
  readonly dryRun?: boolean;
  /** false: no terraform plan (karma plan ID makes one later). */
  readonly plan?: boolean;
}

/** The request as the change use case takes it: the body's inputs, named `input` in every message. */
export function proposalRequest(request: ChangeRequest): ProposalRequest {
  return {
    component: request.component,
    env: request.env,
    inputs: { ...request.input },
    label: 'input',
    ...(request.message !== undefined ? { message: request.message } : {}),
    ...(request.dryRun ? { dryRun: true } : {}),
    ...(request.plan === false ? { plan: false } : {}),
  };
}

/** POST /changes/{id}/apply: the decision, with what it accepts. */
export interface ApplyRequest {
  readonly allowDestroy?: boolean;
  readonly includePending?: boolean;
}

export interface Workspace {
  /** For logs and /healthz: which config and backend. */
  readonly description: string;
  /**
   * The live build. `refresh`: computed now from the config and the runtime, and written to the graph store;
   * otherwise a build at most the workspace's cache age old.
   */
  current(options?: { readonly refresh?: boolean }): Promise<Current>;
  /**
   * The graph as the graph store holds it (the pipeline's last write to Neptune), whole or one environment's
   * part, without building: what GET /graph answers from when it can. Undefined when the store holds none, or not
   * that environment (then current() answers). A workspace without a separate store (karma serve) has none.
   */
  storedGraph?(options?: { readonly env?: string }): Promise<StoredGraph | undefined>;
  /** `karma propose-change --json`'s object. */
  requestChange(request: ChangeRequest, actor: string): Promise<RequestedChange>;
  listChanges(options: { readonly limit?: number }): Promise<{ readonly changes: readonly Change[] }>;
  getChange(id: string): Promise<Change>;
  /** Starts the apply (the call is the decision): returns at once with the change queued or applying. */
  applyChange(id: string, request: ApplyRequest, actor: string): Promise<{ readonly change: Change; readonly execution: string | null }>;
  execution(id: string): Promise<ExecutionView>;
  audit(page: { readonly limit?: number; readonly after?: string; readonly change?: string }): Promise<AuditPage>;
  close(): Promise<void>;
}
