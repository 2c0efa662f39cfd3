/**
 * The GraphQL schema of `karma serve`'s /graphql, in SDL: the single source (docs/schema.graphql is printed from
 * it by `npm run graphql-schema`; a unit test fails when the committed copy is stale). Read-only: a Query type and
 * nothing else. Every type mirrors what a view of lib/app/views.ts (or the change and rollout use cases) returns;
 * it adds no field of its own beyond navigation (an output's consumers as components, dependencies to a depth).
 */
import { DEFAULT_DEPTH, MAX_DEPTH } from '../app/views.ts';

/** The most changes or rollouts one list field returns (the REST routes' page bound). */
export const GRAPHQL_MAX_PAGE = 200;

export const GRAPHQL_SDL = /* GraphQL */ `
"""
Karma's live dependency graph, read-only: the same views as the REST routes (GET /graph, /plan, /impact,
/components/{env}/{name}, /changes, /rollouts). Limits: docs/graphql.md.
"""
schema {
  query: Query
}

"Any JSON value (inputs as written in the config repo, a saved plan, an input diff)."
scalar JSON

"A deployment's status (docs/statuses.md). NEVER_APPLIED is never-applied, STALE_INPUTS stale-inputs."
enum Status {
  NEVER_APPLIED
  IN_SYNC
  PENDING
  STALE_INPUTS
  BLOCKED
  FAILED
  DRIFTED
  ORPHANED
}

"Which order a plan gives (GET /plan?mode=)."
enum PlanMode {
  "What needs an apply now (the default)."
  APPLY
  "Every component of the environment."
  ALL
  "The reverse order: dependents first."
  DESTROY
}

type Query {
  "Every environment of karma.yaml, by name."
  environments: [Environment!]!
  "One environment; an unknown name is an error with code NOT_FOUND and the known names."
  environment(name: String!): Environment
  "One deployment (GET /components/{env}/{name})."
  component(env: String!, name: String!): Component
  "The waves of one environment (GET /plan?env=, karma graph order --env E --json)."
  plan(env: String!, mode: PlanMode = APPLY): Plan
  "What must follow a change of a component or of one of its outputs (GET /impact)."
  impact(env: String!, component: String!, output: String): Impact
  "Changes, newest first (GET /changes). limit: 1 to ${GRAPHQL_MAX_PAGE}, default 50."
  changes(limit: Int): [Change!]!
  "One change (GET /changes/{id})."
  change(id: String!): Change
  "Rollouts, newest first (GET /rollouts; karma serve only, else empty). limit: 1 to ${GRAPHQL_MAX_PAGE}, default 50."
  rollouts(limit: Int): [Rollout!]!
  "One rollout (GET /rollouts/{id}; karma serve only)."
  rollout(id: String!): Rollout
  "Which build the answers reflect (the Karma-Built-At and Karma-Commit headers of REST)."
  graphInfo: GraphInfo!
}

type GraphInfo {
  builtAt: String!
  commit: String
  source: String!
  "The graph store's build id when this build was written, else null."
  buildId: String
}

type Environment {
  name: String!
  region: String
  account: String
  """
  Its deployments (orphans included), by name. status: only these statuses; search: only names that contain
  this text (case-insensitive).
  """
  components(status: [Status!], search: String): [Component!]!
}

type Component {
  name: String!
  env: String!
  status: Status!
  "Why, without the status word."
  reason: String!
  "The status it would have without its upstreams."
  own: Status!
  ownReason: String!
  """
  Why it has its status (karma graph why): itself first, then each upstream that blocks it, depth-first, each
  link with its depth in the chain (0: this component). depth: only the links up to this depth (0 to
  ${MAX_DEPTH}); omitted, the whole chain.
  """
  why(depth: Int): [WhyLink!]!
  description: String
  "The Terraform module directory; null for an orphan."
  module: String
  "Its input file in the config repo; null for an orphan."
  file: String
  configHash: String
  "The deployments it depends on, up to depth hops (0 to ${MAX_DEPTH}), nearest first, then by env/name."
  dependencies(depth: Int = ${DEFAULT_DEPTH}): [Component!]!
  "The deployments that depend on it, up to depth hops (0 to ${MAX_DEPTH}), nearest first, then by env/name."
  dependents(depth: Int = ${DEFAULT_DEPTH}): [Component!]!
  "As written in the config repo: a secret is a \${ssm:...} reference, never a value."
  inputs: JSON
  "The references its inputs make, where (at) and as written (text)."
  references: [Reference!]!
  outputs: [Output!]!
  lastApply: LastApply
}

type WhyLink {
  "status: a deployment and its status; once-unblocked: what a blocked one would be; advice: what to do (orphans)."
  kind: String!
  depth: Int!
  env: String!
  component: String!
  status: Status
  reason: String
  advice: String
}

type Reference {
  at: String!
  text: String!
}

type Output {
  name: String!
  "Its parameter in the runtime store."
  path: String!
  present: Boolean!
  version: Int
  "Sensitive (sensitiveOutputs, or Terraform's sensitive flag) or a SecureString: its value is never shown."
  sensitive: Boolean!
  "Null when absent or sensitive."
  value: String
  "The deployments whose inputs read it."
  consumers: [Component!]!
}

type LastApply {
  appliedAt: String!
  "success or failed."
  result: String!
  commit: String
  configHash: String!
  "The redacted error line of a failed apply."
  error: String
  drift: Drift
}

type Drift {
  checkedAt: String!
  drifted: Boolean!
  summary: String
}

type Plan {
  env: String!
  "Waves in order; the components of one wave can be applied in parallel."
  waves: [[String!]!]!
  "Mode APPLY only: components that need work but cannot be applied now, with why."
  skipped: [Skipped!]
  "Deployments gone from the config whose resources remain: in no wave."
  orphaned: [Skipped!]!
}

type Skipped {
  component: String!
  status: String!
  reason: String!
}

type Impact {
  env: String!
  component: String!
  output: String
  waves: [[String!]!]!
  "Dependents in other environments (through \${env:...} references)."
  otherEnvironments: [EnvironmentWaves!]!
}

type EnvironmentWaves {
  env: String!
  waves: [[String!]!]!
}

type Change {
  id: String!
  "proposed, queued, applying, succeeded, failed or rejected."
  status: String!
  component: String!
  env: String!
  message: String
  base: String
  commit: String!
  createdAt: String!
  "Its proposal branch is still there: it can be (re-)planned and applied."
  open: Boolean!
  "The saved plan (GET /changes/{id}'s plan), or null."
  plan: JSON
  "Its audit entries, oldest first."
  history: [AuditEntry!]!
  "Why it failed or was rejected."
  reason: String
}

type AuditEntry {
  id: String!
  at: String!
  actor: String!
  action: String!
  change: String!
  component: String!
  env: String!
  commit: String
  "What changed in the inputs (secrets are references, sensitive values redacted)."
  diff: JSON
  result: String
  execution: String
}

type Rollout {
  id: String!
  component: String!
  message: String
  "auto or manual."
  approval: String!
  actor: String!
  createdAt: String!
  updatedAt: String!
  "running, waiting-approval, succeeded or failed."
  status: String!
  reason: String
  "In order: each starts only after the one before succeeded."
  steps: [RolloutStep!]!
}

type RolloutStep {
  env: String!
  "The change made for this step (null until it is proposed)."
  change: String
  "pending, proposing, waiting-approval, queued, applying, succeeded, failed or skipped."
  status: String!
  reason: String
  approvedBy: String
  startedAt: String
  finishedAt: String
}
`;
