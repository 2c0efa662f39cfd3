/**
 * The CDK app's settings: one typed, validated source. They come from the cdk.json context key `karma` (an
 * object), or from a JSON file named by the context key `karmaSettingsFile` (path relative to the app's
 * directory), e.g. `npx cdk synth -c karmaSettingsFile=deploy/prod.json`.
 *
 * A missing or invalid setting fails the synth with ONE line that names the key and says how to fix it:
 *   karma settings: environments.karma-dev.deployRoleArn: must be an IAM role ARN ... (cdk.json context "karma")
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { describeIssue } from '../shared/zod-issues.ts';

const envName = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const CodeCommitRepo = z
  .object({
    codecommit: z.object({ name: z.string().regex(/^[\w.-]{1,100}$/, 'must be a CodeCommit repository name') }).strict(),
  })
  .strict();

const GitHubRepo = z
  .object({
    github: z
      .object({
        owner: z.string().regex(/^[A-Za-z0-9-]{1,39}$/, 'must be a GitHub user or organisation'),
        repo: z.string().regex(/^[\w.-]{1,100}$/, 'must be a GitHub repository name'),
        /** Secrets Manager secret (name) holding the webhook secret. @default karma/github-webhook */
        webhookSecretName: z.string().min(1).default('karma/github-webhook'),
        /** Secrets Manager secret (name) with a read-only token, for private repositories. @default - public repository */
        tokenSecretName: z.string().min(1).optional(),
        /** Reserved concurrency of the public webhook function: a flood of requests cannot exhaust the account's Lambda concurrency. @default 5 */
        reservedConcurrency: z.number().int().min(1).max(100).default(5),
      })
      .strict(),
  })
  .strict();

/** The HTTP API's JWT authorizer (Cognito or any OIDC issuer): API Gateway checks the token, the functions read the roles. */
const JwtAuth = z
  .object({
    jwt: z
      .object({
        /** The issuer URL (the `iss` claim), e.g. https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123. */
        issuer: z.string().regex(/^https:\/\/[^\s/]+(\/\S*)?$/, 'must be the issuer\'s https URL (the token\'s "iss" claim)'),
        /** Accepted audiences (`aud`, or `client_id` for Cognito access tokens): at least one. */
        audience: z.array(z.string().min(1, 'must not be empty')).min(1, 'needs at least one audience (the app client id for Cognito)'),
        /** The claim holding the caller's Karma roles (read, propose, apply). @default karma:roles */
        rolesClaim: z.string().regex(/^[\w:./-]{1,128}$/, 'must be a claim name such as karma:roles').default('karma:roles'),
      })
      .strict(),
  })
  .strict();

/** The serverless HTTP API (lib/infra/api.ts). */
const ApiSettings = z
  .object({
    /** Deploy the API (API Gateway, its functions and the audit table). @default true */
    enabled: z.boolean().default(true),
    /** "iam" (SigV4; the default) or {"jwt":{"issuer","audience":[...],"rolesClaim"?}}. */
    auth: z
      .union([z.literal('iam'), JwtAuth], {
        error: 'must be "iam" or {"jwt":{"issuer":"https://ISSUER","audience":["CLIENT_ID"],"rolesClaim":"karma:roles"}}',
      })
      .default('iam'),
    /** The stage's default route throttling: steady requests per second and burst. @default 20 and 40 */
    throttle: z
      .object({
        rateLimit: z.number().positive('must be > 0 (requests per second)').max(10000).default(20),
        burstLimit: z.number().int().min(1, 'must be >= 1').max(5000).default(40),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

/** Fargate's CPU units and the memory (MiB) each allows: min, max, step. */
export const FARGATE_MEMORY: Readonly<Record<number, { min: number; max: number; step: number }>> = {
  256: { min: 512, max: 2048, step: 512 },
  512: { min: 1024, max: 4096, step: 1024 },
  1024: { min: 2048, max: 8192, step: 1024 },
  2048: { min: 4096, max: 16384, step: 1024 },
  4096: { min: 8192, max: 30720, step: 1024 },
  8192: { min: 16384, max: 61440, step: 4096 },
  16384: { min: 32768, max: 122880, step: 8192 },
};

/** The long-running service, `karma serve` on Fargate behind an internal ALB (lib/infra/service.ts, docs/deploy-service.md). */
const ServiceSettings = z
  .object({
    /** Deploy it (ECS cluster, Fargate service, internal ALB, service table, SSM change queue). @default false */
    enabled: z.boolean().default(false),
    /** Task CPU units (Fargate: 256, 512, 1024, 2048, 4096, 8192, 16384). @default 1024 */
    cpu: z
      .number()
      .refine((n) => n in FARGATE_MEMORY, 'must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384')
      .default(1024),
    /** Task memory in MiB, within what the CPU size allows. @default 2048 */
    memory: z.number().int('must be whole MiB').default(2048),
    /**
     * Running tasks: 1 (or 0 to stop it and keep everything else). Not more: EventBridge's SSM change events are
     * one SQS queue, and a message goes to ONE consumer, so a second instance's live graph would miss changes.
     * @default 1
     */
    desiredCount: z
      .number()
      .int()
      .min(0, 'must be 0 (stopped) or 1')
      .max(1, 'must be 0 or 1: one instance keeps one live graph (each SSM change event reaches one consumer; docs/deploy-service.md "Scaling")')
      .default(1),
    /** The directory holding the Dockerfile (relative to the CDK app's directory, or absolute). @default the repository root */
    imageDirectory: z.string().min(1).optional(),
    /**
     * A pre-built image in an ECR repository of the stack's account and region, instead of building the Dockerfile
     * at deploy time (a deploy machine without Docker, an image built and scanned by CI). @default - built from imageDirectory
     */
    image: z
      .object({
        repository: z.string().regex(/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, 'must be an ECR repository name such as karma/service'),
        tag: z.string().regex(/^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[0-9a-f]{64})$/, 'must be an image tag (e.g. 1.4.0) or a digest sha256:<64 hex>'),
      })
      .strict()
      .optional(),
    /** An ACM certificate ARN: the ALB listens on HTTPS 443 with it. @default - HTTP on port 80, inside the VPC only */
    certificateArn: z
      .string()
      .regex(/^arn:aws[\w-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[\w-]+$/, 'must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)')
      .optional(),
    /** Days the service's log group keeps its logs. @default 90 */
    logRetentionDays: z.union([z.literal(30), z.literal(90), z.literal(180), z.literal(365)], { error: 'must be 30, 90, 180 or 365' }).default(90),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.image && s.imageDirectory !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['image'], message: 'give image (a pre-built image) or imageDirectory (built at deploy time), not both' });
    }
    const allowed = FARGATE_MEMORY[s.cpu];
    if (allowed && (s.memory < allowed.min || s.memory > allowed.max || (s.memory - allowed.min) % allowed.step !== 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['memory'],
        message: `with cpu ${s.cpu}, Fargate allows ${allowed.min} to ${allowed.max} MiB in steps of ${allowed.step}`,
      });
    }
  })
  .prefault({});

export const KarmaSettings = z
  .object({
    /** The AWS account and region the stack deploys to (no lookups: synth stays offline). */
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id'),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1'),
    /** @default Karma */
    stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/).default('Karma'),
    /** The config repo: {"codecommit":{"name":...}} or {"github":{"owner":...,"repo":...}}. */
    configRepo: z.union([CodeCommitRepo, GitHubRepo], {
      error: 'must be {"codecommit":{"name":"REPO"}} or {"github":{"owner":"OWNER","repo":"REPO"}}',
    }),
    /** The tracked branch: pushes to it start the pipeline. @default main */
    branch: z.string().regex(/^[\w./-]+$/, 'must be a branch name').default('main'),
    /** The runtime parameter prefix (karma.yaml parameterPrefix). @default /karma */
    parameterPrefix: z
      .string()
      .regex(/^\/[\w.-]+(\/[\w.-]+)*$/, 'must start with / and not end with / (e.g. /karma)')
      .default('/karma'),
    /** Environments by name, each with the IAM role CodeBuild assumes to run Terraform there. */
    environments: z
      .record(
        z.string().regex(envName, 'environment names are lowercase letters, digits, - and _'),
        z
          .object({
            deployRoleArn: z
              .string()
              .regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)'),
          })
          .strict(),
      )
      .refine((r) => Object.keys(r).length > 0, 'needs at least one environment, e.g. {"karma-dev":{"deployRoleArn":"arn:aws:iam::123456789012:role/karma-deploy"}}'),
    /** EventBridge schedule expression for drift checks, or null for none. @default cron(0 6 * * ? *) */
    driftSchedule: z
      .string()
      .regex(/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\([^)]+\))$/, 'must be rate(N unit) or cron(...) (EventBridge syntax)')
      .nullable()
      .default('cron(0 6 * * ? *)'),
    neptune: z
      .object({
        /** Serverless v2 capacity in NCUs. @default 1 */
        minCapacity: z.number().min(1).max(128).default(1),
        /** @default 2.5 */
        maxCapacity: z.number().min(2.5).max(128).default(2.5),
        /** Instances (the first is the writer; more are readers in other AZs). @default 1 */
        instances: z.number().int().min(1).max(16).default(1),
        /** Neptune 1.4.x speaks TinkerPop 3.7, the version Karma's gremlin client is pinned to. @default 1.4.1.0 */
        engineVersion: z.string().regex(/^1\.4\.\d+\.\d+$/, 'must be a Neptune 1.4.x engine version (TinkerPop 3.7)').default('1.4.1.0'),
        /** Automated backup retention in days. @default 7 */
        backupRetentionDays: z.number().int().min(1).max(35).default(7),
      })
      .strict()
      .refine((n) => n.maxCapacity >= n.minCapacity, { message: 'maxCapacity must be >= minCapacity', path: ['maxCapacity'] })
      .prefault({}),
    /** Parameter paths outside the prefix that configs read with ${ssm:...} (read-only grants). @default none */
    readableParameterPaths: z.array(z.string().regex(/^\/[\w./-]*$/, 'must be a parameter path starting with /')).default([]),
    /** The VPC's availability zones (named, so synth never looks them up). @default <region>a, <region>b */
    availabilityZones: z.array(z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d[a-z]$/, 'must be availability zone names such as eu-west-1a')).min(2).optional(),
    /** Components applied at once per round (CodeBuild's concurrent-build quota). @default 4 */
    maxParallel: z.number().int().min(1).max(100).default(4),
    /** Seconds an environment lock outlives a dead execution. @default 21600 */
    lockTtlSeconds: z.number().int().min(60).default(21600),
    /** NAT gateways: needed only to reach GitHub from the private subnets. @default 1 with GitHub, 0 with CodeCommit */
    natGateways: z.number().int().min(0).max(3).optional(),
    /** Terraform installed by the CodeBuild buildspec; sha256 of the linux_arm64 zip pins it (else the release's SHA256SUMS is checked). */
    terraform: z
      .object({
        version: z.string().regex(/^\d+\.\d+\.\d+$/, 'must be a version such as 1.11.4').default('1.11.4'),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex sha256').optional(),
      })
      .strict()
      .prefault({}),
    /** Email addresses subscribed to the failure and drift topic. @default none */
    notificationEmails: z.array(z.email()).default([]),
    /** Days build snapshots are kept in the bucket. @default 90 */
    snapshotRetentionDays: z.number().int().min(1).default(90),
    /** The serverless HTTP API: {"enabled","auth","throttle"}; docs/deploy.md "The HTTP API". @default IAM auth, 20 rps, burst 40 */
    api: ApiSettings,
    /** The long-running service on Fargate: {"enabled","cpu","memory","desiredCount","imageDirectory"|"image","certificateArn","logRetentionDays"}; docs/deploy-service.md. @default off */
    service: ServiceSettings,
  })
  .strict()
  .superRefine((s, ctx) => {
    if ('github' in s.configRepo && s.natGateways === 0) {
      ctx.addIssue({ code: 'custom', path: ['natGateways'], message: 'a GitHub config repo needs natGateways >= 1 (the Lambdas and CodeBuild reach GitHub through NAT)' });
    }
    if (s.service.enabled && !s.api.enabled) {
      ctx.addIssue({
        code: 'custom',
        path: ['service', 'enabled'],
        message: 'the service needs api.enabled: it writes the audit table the HTTP API creates (set api.enabled to true, or service.enabled to false)',
      });
    }
  });

export type KarmaSettingsInput = z.input<typeof KarmaSettings>;
export type KarmaSettings = z.output<typeof KarmaSettings> & { readonly natGateways: number };

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

const EXAMPLE =
  '{"account":"123456789012","region":"eu-west-1","configRepo":{"codecommit":{"name":"infra-config"}},"environments":{"karma-dev":{"deployRoleArn":"arn:aws:iam::123456789012:role/karma-deploy"}}}';

/** Validates settings; throws a SettingsError with one line naming the key and the fix. */
export function parseSettings(raw: unknown, source = 'cdk.json context "karma"'): KarmaSettings {
  if (raw === undefined || raw === null) {
    throw new SettingsError(`karma settings: missing: add a "karma" object to the "context" of cdk.json (or -c karmaSettingsFile=FILE), e.g. ${EXAMPLE}`);
  }
  const parsed = KarmaSettings.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const d = describeIssue(issue);
    // Settings speak of keys, and a missing one keeps zod's words on what it expects.
    let message = d.message;
    if (d.keys) message = `unknown key ${d.keys.map((k) => `"${k}"`).join(', ')}: remove it or fix its spelling`;
    else if (message === 'is required') message = `missing: set it (${issue.message})`;
    throw new SettingsError(`karma settings: ${d.field || '(root)'}: ${message} (in ${source})`);
  }
  const s = parsed.data;
  return { ...s, natGateways: s.natGateways ?? ('github' in s.configRepo ? 1 : 0) };
}

/** Settings from CDK context: `karmaSettingsFile` (a JSON file) wins over the inline `karma` object. */
export function settingsFromContext(get: (key: string) => unknown, baseDir: string): KarmaSettings {
  const file = get('karmaSettingsFile');
  if (typeof file === 'string' && file.length > 0) {
    const path = isAbsolute(file) ? file : resolve(baseDir, file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new SettingsError(`karma settings: karmaSettingsFile: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): fix the path`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new SettingsError(`karma settings: karmaSettingsFile: ${path} is not valid JSON (${(error as Error).message})`);
    }
    return parseSettings(json, path);
  }
  return parseSettings(get('karma'));
}

/** The config repo as an https Git URL (what KARMA_CONFIG holds for the Lambdas). */
export function configRepoUrl(s: KarmaSettings): string {
  if ('codecommit' in s.configRepo) return `https://git-codecommit.${s.region}.amazonaws.com/v1/repos/${s.configRepo.codecommit.name}`;
  return `https://github.com/${s.configRepo.github.owner}/${s.configRepo.github.repo}.git`;
}
