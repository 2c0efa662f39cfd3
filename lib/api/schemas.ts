/**
 * The API's request and response schemas (zod, with OpenAPI names): the OpenAPI document is generated from
 * them (docs/openapi.json), requests are validated by them, and the route tests check every response against
 * them. They describe what lib/app returns; they do not reshape it.
 */
import { z } from '@hono/zod-openapi';
import { STATUSES } from '../core/status.ts';
import { AUDIT_ACTIONS } from '../ports.ts';
import { MAX_DEPTH } from '../app/views.ts';

// ---------------------------------------------------------------------------------------------- requests

/** `?refresh=true`: build now from the config and the runtime (and write the graph store). */
const refresh = z.enum(['true', 'false']).optional().openapi({ description: 'true: rebuild from the config and the runtime now (and write the graph store)' });
const name = (what: string) => z.string().min(1).max(128).regex(/^[A-Za-z0-9_.-]+$/, `${what} names are letters, digits, _, . and -`);

export const GraphQuery = z
  .object({
    env: name('environment').optional().openapi({ description: 'only this environment' }),
    component: name('component').optional().openapi({ description: 'with env: only the neighbourhood of this component' }),
    depth: z.coerce
      .number()
      .int()
      .min(0)
      .max(MAX_DEPTH)
      .optional()
      // A coerced number has no JSON Schema of its own: the bounds are restated for the document.
      .openapi({ type: 'integer', minimum: 0, maximum: MAX_DEPTH, description: `with component: dependency hops up and down (default 1, at most ${MAX_DEPTH})` }),
    format: z
      .enum(['json', 'dot', 'mermaid', 'picture'])
      .optional()
      .openapi({ description: 'json (default); the picture as Graphviz DOT or Mermaid text; or that picture as JSON (picture: what the web UI draws)' }),
    refresh,
  })
  .strict()
  .openapi('GraphQuery');

export const PlanQuery = z
  .object({
    env: name('environment'),
    mode: z.enum(['apply', 'all', 'destroy']).optional().openapi({ description: 'apply (default): what needs an apply; all: every component; destroy: the reverse order' }),
    refresh,
  })
  .strict();

export const ImpactQuery = z
  .object({ env: name('environment'), component: name('component'), output: name('output').optional(), refresh })
  .strict();

export const ComponentParams = z.object({ env: name('environment'), name: name('component') });
export const RefreshQuery = z.object({ refresh }).strict();
export const EmptyQuery = z.object({}).strict();

export const RequestChangeBody = z
  .object({
    component: name('component'),
    env: name('environment'),
    input: z.record(z.string(), z.unknown()).openapi({ description: "the component's full new inputs in that environment (what --input's file holds)" }),
    message: z.string().max(500).optional().openapi({ description: 'a one-line description of the change' }),
    dryRun: z.boolean().optional().openapi({ description: 'validate and show the diff and impact, record nothing' }),
    plan: z.boolean().optional().openapi({ description: 'false: record the proposal without running terraform plan' }),
  })
  .strict()
  .openapi('RequestChange');

export const ChangeParams = z.object({ id: z.string().min(1).max(100).regex(/^[A-Za-z0-9_.-]+$/, 'a change id (p-…)') });

export const ApplyChangeBody = z
  .object({
    allowDestroy: z.boolean().optional().openapi({ description: 'accept a plan that destroys or replaces resources' }),
    includePending: z.boolean().optional().openapi({ description: "also apply everything else pending in the change's environment" }),
  })
  .strict()
  .openapi('ApplyChange');

export const MAX_PAGE = 200;
export const ChangesQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional().openapi({ type: 'integer', minimum: 1, maximum: MAX_PAGE, description: `changes per page (default 50, at most ${MAX_PAGE})` }) })
  .strict();
/**
 * An execution id (a Step Functions execution ARN: at most about 300 characters). Bounded at 1024 so that any id
 * the document allows, percent-encoded even as 4-byte characters, fits in Node's 16 KiB request head: at 2048 a
 * valid id could be answered 431 by the HTTP server, with no problem body.
 */
export const ExecutionParams = z.object({ id: z.string().min(1).max(1024) });
export const AuditQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional().openapi({ type: 'integer', minimum: 1, maximum: MAX_PAGE, description: `entries per page (default 50, at most ${MAX_PAGE})` }),
    after: z
      .string()
      // The id form of the audit log (AUDIT_ID in lib/adapters/audit.ts, which lib/api may not import): a value
      // of another shape was valid by the document and answered 400.
      .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{16}$/, "an audit cursor: the previous page's next (2026-12-02T14:30:29.123Z#0123456789abcdef)")
      .optional()
      .openapi({ description: "the previous page's next cursor" }),
    change: z.string().min(1).max(100).optional().openapi({ description: "only this change's entries" }),
  })
  .strict();

// --------------------------------------------------------------------------------------------- responses

const Status = z.enum(STATUSES);
const PropValue = z.union([z.string(), z.number(), z.boolean()]);
const Waves = z.array(z.array(z.string())).openapi({ description: 'waves in order; the components of one wave can be applied in parallel' });
const Skipped = z.object({ component: z.string(), status: z.string(), reason: z.string() });

export const GraphElement = z
  .object({
    id: z.string(),
    label: z.string(),
    from: z.string().optional(),
    to: z.string().optional(),
    props: z.record(z.string(), PropValue),
    hash: z.string(),
  })
  .openapi('GraphElement');

export const Graph = z
  .object({
    meta: z.object({
      project: z.string(),
      builtAt: z.string(),
      source: z.string(),
      commit: z.string().optional(),
      configFingerprint: z.string(),
      trigger: z.string().optional(),
    }),
    vertices: z.array(GraphElement),
    edges: z.array(GraphElement),
  })
  .openapi('Graph');

const Statuses = z.object(Object.fromEntries(STATUSES.map((s) => [s, z.number().int()])) as Record<(typeof STATUSES)[number], z.ZodNumber>);

export const Environments = z
  .object({
    project: z.string(),
    environments: z.array(z.object({ name: z.string(), deployments: z.number().int(), statuses: Statuses.openapi({ description: 'how many deployments have each status' }) })),
  })
  .openapi('Environments');

export const Picture = z
  .object({
    envs: z.array(
      z.object({
        env: z.string(),
        nodes: z.array(z.object({ id: z.string(), env: z.string(), name: z.string(), status: z.string(), otherEnv: z.boolean().openapi({ description: 'in another environment than the one asked for' }) })),
      }),
    ),
    params: z.array(z.object({ id: z.string(), path: z.string(), present: z.boolean() })),
    edges: z.array(
      z.object({
        from: z.string().openapi({ description: 'upstream: a component or parameter id' }),
        to: z.string().openapi({ description: 'the dependent component' }),
        outputs: z.array(z.string()).openapi({ description: 'the outputs of from that to consumes' }),
        orderingOnly: z.boolean().openapi({ description: 'dependsOn without any output consumed' }),
      }),
    ),
  })
  .openapi('Picture');

export const EnvironmentOrder = z
  .object({ env: z.string(), waves: Waves, skipped: z.array(Skipped).optional(), orphaned: z.array(Skipped) })
  .openapi('EnvironmentOrder');

export const Impact = z
  .object({
    env: z.string(),
    component: z.string(),
    output: z.string().optional(),
    waves: Waves,
    otherEnvironments: z.array(z.object({ env: z.string(), waves: Waves })),
  })
  .openapi('Impact');

const WhyStep = z.object({
  kind: z.enum(['status', 'once-unblocked', 'advice']),
  depth: z.number().int(),
  env: z.string(),
  component: z.string(),
  status: Status.optional(),
  reason: z.string().optional(),
  advice: z.string().optional(),
});

export const Why = z.object({ env: z.string(), component: z.string(), status: Status, reason: z.string(), chain: z.array(WhyStep) }).openapi('Why');

export const Component = z
  .object({
    env: z.string(),
    component: z.string(),
    status: Status,
    reason: z.string(),
    why: Why,
    description: z.string().nullable(),
    module: z.string().nullable(),
    file: z.string().nullable(),
    configHash: z.string().nullable(),
    dependsOn: z.array(z.string()),
    dependents: z.array(z.string()),
    inputs: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'as written in the config repo: a secret is a ${ssm:...} reference, never its value' }),
    inputsSchema: z.record(z.string(), z.unknown()).nullable().openapi({ description: "the component's inputs JSON Schema (component.yaml); null without one" }),
    references: z.array(z.object({ at: z.string(), text: z.string() })),
    outputs: z.array(
      z.object({
        name: z.string(),
        path: z.string(),
        present: z.boolean(),
        version: z.number().int().nullable(),
        sensitive: z.boolean(),
        value: z.string().nullable().openapi({ description: 'null when absent, sensitive or a SecureString' }),
        consumers: z.array(z.object({ env: z.string(), component: z.string() })),
      }),
    ),
    lastApply: z
      .object({
        appliedAt: z.string(),
        result: z.enum(['success', 'failed']),
        commit: z.string().nullable(),
        configHash: z.string(),
        error: z.string().nullable(),
        drift: z.object({ checkedAt: z.string(), drifted: z.boolean(), summary: z.string().nullable() }).nullable(),
      })
      .nullable(),
  })
  .openapi('Component');

const InputChange = z.object({ path: z.string(), kind: z.enum(['added', 'removed', 'changed']), before: z.unknown().optional(), after: z.unknown().optional() });
const PlanResource = z.object({ address: z.string(), action: z.enum(['create', 'update', 'replace', 'delete', 'read']) });

/** The plan outcome of a proposal: planned (the summary), skipped (no terraform), or failed; null: not planned. */
export const PlanOutcome = z
  .union([
    z.object({
      status: z.literal('planned'),
      add: z.number().int(),
      change: z.number().int(),
      destroy: z.number().int(),
      resources: z.array(PlanResource),
      line: z.string(),
      commit: z.string(),
      plannedAt: z.string(),
      expiresAt: z.string(),
    }),
    z.object({ status: z.literal('skipped'), reason: z.string() }),
    z.object({ status: z.literal('failed'), error: z.string(), log: z.string() }),
  ])
  .nullable()
  .openapi('PlanOutcome');

export const Proposed = z
  .object({
    id: z.string().optional().openapi({ description: 'absent on a dry run' }),
    branch: z.string().optional(),
    commit: z.string().optional(),
    base: z.string(),
    component: z.string(),
    env: z.string(),
    file: z.string(),
    newDeployment: z.boolean(),
    message: z.string(),
    diff: z.array(InputChange),
    impact: Impact,
    warnings: z.array(z.string()),
    plan: PlanOutcome,
  })
  .openapi('Proposed');

export const CHANGE_STATUSES = ['proposed', 'queued', 'applying', 'succeeded', 'failed', 'rejected'] as const;

export const AuditEntry = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: z.string(),
    action: z.enum(AUDIT_ACTIONS),
    change: z.string(),
    component: z.string(),
    env: z.string(),
    commit: z.string().optional(),
    diff: z.array(z.unknown()).optional(),
    result: z.string().optional(),
    execution: z.string().optional(),
  })
  .openapi('AuditEntry');

export const Change = z
  .object({
    id: z.string(),
    status: z.enum(CHANGE_STATUSES),
    component: z.string(),
    env: z.string(),
    message: z.string().nullable(),
    base: z.string().nullable(),
    commit: z.string(),
    createdAt: z.string(),
    open: z.boolean().openapi({ description: 'its proposal branch is still there: it can be (re-)planned and applied' }),
    plan: PlanOutcome,
    history: z.array(AuditEntry),
    reason: z.string().optional(),
  })
  .openapi('Change');

export const Changes = z.object({ changes: z.array(Change) }).openapi('Changes');

export const ApplyStarted = z
  .object({ change: Change, execution: z.string().nullable().openapi({ description: 'the pipeline run, once known (GET /executions/{id})' }) })
  .openapi('ApplyStarted');

export const Execution = z
  .object({
    executionArn: z.string(),
    status: z.string(),
    startDate: z.string(),
    stopDate: z.string().nullable(),
    error: z.string().nullable(),
    cause: z.string().nullable(),
    summary: z.unknown(),
  })
  .openapi('Execution');

export const AuditPage = z.object({ entries: z.array(AuditEntry), next: z.string().nullable() }).openapi('AuditPage');


/** RFC 9457 problem details. */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    problems: z.array(z.object({ path: z.string(), message: z.string() })).optional().openapi({ description: 'each problem of an invalid request, with where it is' }),
    known: z.array(z.string()).optional().openapi({ description: 'for an unknown name: the valid ones' }),
  })
  .openapi('Problem');

// ------------------------------------------------------------------------- karma serve's service routes

export const ROLLOUT_STEP_STATUSES = ['pending', 'proposing', 'waiting-approval', 'queued', 'applying', 'succeeded', 'failed', 'skipped'] as const;
export const ROLLOUT_STATUSES = ['running', 'waiting-approval', 'succeeded', 'failed'] as const;
export const MAX_ROLLOUT_ENVIRONMENTS = 10;

export const RolloutBody = z
  .object({
    component: name('component'),
    input: z.record(z.string(), z.unknown()).openapi({ description: 'the new inputs, the same for every environment (as POST /request-change takes them)' }),
    environments: z
      .array(name('environment'))
      .min(1)
      .max(MAX_ROLLOUT_ENVIRONMENTS)
      .refine((envs) => new Set(envs).size === envs.length, 'an environment may appear once')
      .openapi({ description: 'in order: each is applied only after the one before succeeded' }),
    approval: z.enum(['auto', 'manual']).optional().openapi({ description: 'manual: each step after the first waits for POST /rollouts/{id}/approve once its plan is made (default auto)' }),
    message: z.string().max(1000).optional(),
  })
  .strict()
  .openapi('RolloutRequest');

export const RolloutParams = z.object({ id: z.string().min(1).max(100).regex(/^[A-Za-z0-9_.-]+$/, 'a rollout id (r-…)') });
export const RolloutsQuery = z.object({ limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional() }).strict();

export const RolloutStep = z
  .object({
    env: z.string(),
    change: z.string().nullable(),
    status: z.enum(ROLLOUT_STEP_STATUSES),
    reason: z.string().optional(),
    approvedBy: z.string().optional(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
  })
  .openapi('RolloutStep');

export const Rollout = z
  .object({
    id: z.string(),
    component: z.string(),
    message: z.string().optional(),
    approval: z.enum(['auto', 'manual']),
    actor: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    status: z.enum(ROLLOUT_STATUSES),
    reason: z.string().optional(),
    steps: z.array(RolloutStep),
  })
  .openapi('Rollout');
export const Rollouts = z.object({ rollouts: z.array(Rollout) }).openapi('Rollouts');

export const FailedDelivery = z
  .object({
    id: z.string(),
    webhook: z.string(),
    event: z.string(),
    target: z.string(),
    attempts: z.number().int(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string(),
    firstAttemptAt: z.string(),
    failedAt: z.string(),
    payload: z.string(),
  })
  .openapi('FailedDelivery');
export const FailedDeliveries = z.object({ deliveries: z.array(FailedDelivery) }).openapi('FailedDeliveries');
export const LimitQuery = z.object({ limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional() }).strict();

export const EventsQuery = z
  .object({
    types: z.string().max(500).optional().openapi({ description: 'comma-separated event types to receive (default all)' }),
  })
  .strict();

export const Ready = z.object({ ready: z.literal(true) }).openapi('Ready');

export const ServiceHealthBody = z
  .object({
    graph: z.object({ version: z.number().int(), loadedAt: z.string().nullable(), updatedAt: z.string().nullable(), commit: z.string().nullable() }),
    sync: z.object({ at: z.string().nullable(), buildId: z.string().nullable(), written: z.number().int().nullable(), error: z.string().nullable() }),
    queue: z.object({ queued: z.number().int(), running: z.number().int() }),
  })
  .openapi('ServiceHealth');

export const Health = z
  .object({ status: z.literal('ok'), version: z.string(), service: ServiceHealthBody.optional().openapi({ description: 'karma serve: the live graph, its last sync to the graph store, the queue' }) })
  .openapi('Health');

export const GraphqlQuery = z
  .object({
    // A URL must fit in the 16 KiB of request headers Node accepts, percent-encoded (up to 6 bytes a character):
    // longer queries are POSTed.
    query: z.string().min(1).max(1500).openapi({ description: 'the GraphQL document (queries only); a longer one: POST' }),
    variables: z.string().max(500).optional().openapi({ description: 'a JSON object' }),
    operationName: z.string().max(100).optional(),
  })
  .strict()
  .openapi('GraphqlQuery');
export const GraphqlBody = z
  .object({
    query: z.string().min(1).max(10 * 1024),
    variables: z.record(z.string(), z.unknown()).nullable().optional(),
    operationName: z.string().max(200).nullable().optional(),
  })
  .openapi('GraphqlRequest');
export const GraphqlAnswer = z
  .object({
    data: z.record(z.string(), z.unknown()).nullable().optional(),
    errors: z
      .array(z.object({ message: z.string(), path: z.array(z.union([z.string(), z.number()])).optional(), extensions: z.record(z.string(), z.unknown()).optional() }).passthrough())
      .optional(),
  })
  .openapi('GraphqlAnswer');
