/**
 * The config model: what the Git repo says. Produced by config.ts from the repo's files; consumed by the
 * graph builder, planner and the adapters that apply components.
 */

/** A file of the config repo as a ConfigSource hands it over: repo-relative POSIX path and raw bytes. */
export interface RepoFile {
  readonly path: string;
  readonly bytes: Uint8Array;
}

export interface EnvironmentDef {
  readonly name: string;
  readonly region?: string;
  readonly account?: string;
  /** Where this environment's Terraform state lives (overrides karma.yaml terraform.state). */
  readonly state?: StateSettings;
  /** Overrides the project's drift policy for this environment. */
  readonly drift?: DriftPolicy;
}

/** A Terraform backend: its type (`s3`, `local`, `gcs`, ...) and the settings of its block (see state-backend.ts). */
export interface StateSettings {
  readonly backend: string;
  readonly config: Readonly<Record<string, unknown>>;
}

/**
 * What a run started by an event (a parameter change, a push, a schedule) does with a component whose only
 * reason to apply is drift: `report` (the default) lists and notifies it and leaves it alone; `revert`
 * re-applies it. A manual run always applies what it plans.
 */
export interface DriftPolicy {
  readonly onTrigger: 'report' | 'revert';
}

export type BackendConfig =
  | { readonly type: 'local'; readonly path: string }
  | {
      readonly type: 'aws';
      readonly region?: string;
      readonly endpoint?: string;
      /** The DynamoDB table of the audit log (docs/audit.md). */
      readonly auditTable?: string;
      readonly neptune?: { readonly endpoint: string; readonly port?: number; readonly iamAuth?: boolean; readonly tls?: boolean };
    };

export interface ProjectConfig {
  readonly project: string;
  readonly parameterPrefix: string;
  readonly environments: ReadonlyMap<string, EnvironmentDef>;
  readonly backend: BackendConfig;
  readonly terraform: { readonly binary?: string; readonly state?: StateSettings };
  readonly drift: DriftPolicy;
  /** Build history: how many builds every store keeps (default 50). Absent in hand-made configs. */
  readonly history?: { readonly keepBuilds: number };
  /** Where `karma serve` sends its events (docs/notifications.md). Absent when karma.yaml has no `notifications:`. */
  readonly notifications?: NotificationsConfig;
}

/**
 * The event types a webhook may subscribe to: the same list as SERVICE_EVENT_TYPES in lib/app/events.ts (core
 * cannot import lib/app; test/unit/core/config-notifications.test.ts checks the two are equal).
 */
export const NOTIFICATION_EVENT_TYPES = [
  'graph.changed',
  'change.queued',
  'change.started',
  'change.finished',
  'rollout.step',
  'rollout.finished',
  'drift.found',
  'deployment.orphaned',
] as const;
export type NotificationEventType = (typeof NOTIFICATION_EVENT_TYPES)[number];

/** A value read from an environment variable of the process that runs `karma serve`: never written in Git. */
export interface EnvValue {
  readonly env: string;
}

/** One outgoing webhook (karma.yaml `notifications.webhooks[]`). */
export interface WebhookDef {
  /** Unique among the webhooks: in logs, stats and the failed-delivery list. */
  readonly name: string;
  /** https (http only to 127.0.0.1, [::1] or localhost), or the variable holding it (a Slack URL is itself a secret). */
  readonly url: string | EnvValue;
  /** The HMAC-SHA256 key of X-Karma-Signature-256; unsigned without one. */
  readonly secret?: EnvValue;
  /** The event types sent; absent = all of them. */
  readonly events?: readonly NotificationEventType[];
  /** `slack`: {text, blocks, karma: {event}}; `karma`: the event itself. */
  readonly format: 'slack' | 'karma';
}

export interface NotificationsConfig {
  readonly webhooks: readonly WebhookDef[];
  /** An SNS topic events are published to (KARMA_NOTIFY_TOPIC_ARN overrides the topic). */
  readonly sns?: { readonly topicArn: string; readonly events?: readonly NotificationEventType[] };
}

export interface ComponentDef {
  readonly name: string;
  /** components/<name>/component.yaml */
  readonly file: string;
  readonly description: string;
  /** Repo-relative module directory ('.' is the repo root). */
  readonly terraform: string;
  readonly dependsOn: readonly string[];
  readonly inputsSchema: Record<string, unknown> | undefined;
  readonly outputs: readonly string[];
  /** Outputs to treat as secrets (stored as SecureString), besides those Terraform itself marks sensitive. */
  readonly sensitiveOutputs: readonly string[];
  /** Normalised component.yaml content: part of the config hash. */
  readonly definition: unknown;
  /** sha256 over the module directory's files (path and content): part of the config hash. */
  readonly moduleHash: string;
  /** A backend the module declares itself (`backend "s3" {}`): Karma then fills in its settings instead of adding one. */
  readonly declaredBackend?: { readonly type: string; readonly file: string; readonly line: number };
}

/** What a reference points at. */
export type ReferenceTarget =
  | { readonly kind: 'output'; readonly env: string; readonly component: string; readonly output: string }
  | { readonly kind: 'ssm'; readonly path: string };

/** A reference found in an input value: its target, the JSON path of the input that holds it (`vpc.id`,
 * `subnets[0]`) and the reference text as written. */
export type Reference = ReferenceTarget & { readonly at: string; readonly text: string };

/** A component deployed in an environment: environments/<env>/<component>.json|yaml */
export interface Deployment {
  readonly env: string;
  readonly component: string;
  readonly file: string;
  /** The inputs as written, references unresolved. */
  readonly inputs: Record<string, unknown>;
  readonly references: readonly Reference[];
  /** Explicit ordering-only dependencies (component.yaml dependsOn), same env. */
  readonly dependsOn: readonly string[];
  /** sha256 of normalised inputs + component.yaml + module files. */
  readonly configHash: string;
}

export interface Config {
  readonly project: ProjectConfig;
  readonly components: ReadonlyMap<string, ComponentDef>;
  /** Sorted by env, then component. */
  readonly deployments: readonly Deployment[];
  /** The commit the config was read at, when it came from Git. */
  readonly commit?: string;
  /** Where it came from (a directory or a Git URL), for messages. */
  readonly source: string;
}

export function deploymentKey(env: string, component: string): string {
  return `${env}/${component}`;
}

/** SSM path helpers: the runtime layout under the parameter prefix. */
export function outputParamPath(prefix: string, env: string, component: string, output: string): string {
  return `${prefix}/${env}/${component}/outputs/${output}`;
}
export function stateParamPath(prefix: string, env: string, component: string): string {
  return `${prefix}/${env}/${component}/state`;
}
export function envParamPath(prefix: string, env: string): string {
  return `${prefix}/${env}`;
}
