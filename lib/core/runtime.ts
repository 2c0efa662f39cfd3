/**
 * What was really deployed: SSM-shaped parameters (path, value, version) and the state record a component
 * leaves after each apply. Core sees them as plain values; a RuntimeStore adapter reads them.
 */
import { z } from 'zod';
import { formatIssue } from '../shared/zod-issues.ts';

export type ParameterType = 'String' | 'StringList' | 'SecureString';

export interface Parameter {
  readonly name: string;
  readonly value: string;
  readonly version: number;
  readonly type: ParameterType;
  readonly lastModified: string;
}

/** `/karma/<env>/<component>/state`: written by every apply (and drift check). */
export const ComponentState = z.object({
  configHash: z.string(),
  /** Version of every parameter (output or external) the apply consumed, by path. */
  consumed: z.record(z.string(), z.number().int()).default({}),
  commit: z.string().optional(),
  appliedAt: z.string(),
  result: z.enum(['success', 'failed']),
  error: z.string().optional(),
  /** How each output is encoded in its parameter: `string` as is, `json` for lists, maps, numbers. */
  outputs: z.record(z.string(), z.enum(['string', 'json'])).default({}),
  /** The version of each output parameter right after this apply wrote it: a newer one was written by someone else. */
  outputVersions: z.record(z.string(), z.number().int()).default({}),
  /** How long this run's `terraform init` took (the pipeline's result table shows it). */
  initMillis: z.number().int().nonnegative().optional(),
  drift: z
    .object({ checkedAt: z.string(), drifted: z.boolean(), summary: z.string().optional() })
    .optional(),
  /** Where Terraform keeps the state (`s3://bucket/key`, `local:<env>/<component>`): a run elsewhere is refused. */
  stateLocation: z.string().optional(),
});
export type ComponentState = z.infer<typeof ComponentState>;

export type StateRead = { readonly kind: 'absent' } | { readonly kind: 'ok'; readonly state: ComponentState; readonly version: number } | { readonly kind: 'unreadable'; readonly reason: string };

export function parseState(param: Parameter | undefined): StateRead {
  if (!param) return { kind: 'absent' };
  let json: unknown;
  try {
    json = JSON.parse(param.value);
  } catch {
    return { kind: 'unreadable', reason: `${param.name} is not valid JSON` };
  }
  const parsed = ComponentState.safeParse(json);
  if (!parsed.success) {
    return { kind: 'unreadable', reason: `${param.name}: ${formatIssue(parsed.error.issues[0]!, '(document)')}` };
  }
  return { kind: 'ok', state: parsed.data, version: param.version };
}

/** All parameters Karma read for one build, by path. */
export type RuntimeSnapshot = ReadonlyMap<string, Parameter>;

/** The decoded value of an output parameter, as the producer's state says it was encoded. */
export function decodeOutput(param: Parameter, encoding: 'string' | 'json' | undefined): unknown {
  if (encoding === 'json') {
    try {
      return JSON.parse(param.value);
    } catch {
      return param.value;
    }
  }
  return param.value;
}
