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
  const fast = plainState(json);
  if (fast) return { kind: 'ok', state: fast, version: param.version };
  const parsed = ComponentState.safeParse(json);
  if (!parsed.success) {
    return { kind: 'unreadable', reason: `${param.name}: ${formatIssue(parsed.error.issues[0]!, '(document)')}` };
  }
  return { kind: 'ok', state: parsed.data, version: param.version };
}

/**
 * The state as ComponentState.parse returns it, for the usual record (every field of the expected type, nothing
 * odd), checked by hand: a build reads one per deployment, and zod took most of that time. Anything else
 * (a missing or mistyped field, an unusual key) gives undefined and goes through zod, which says what is wrong.
 * Same output as zod: known keys in the schema's order, unknown ones dropped, defaults filled in.
 */
function plainState(json: unknown): ComponentState | undefined {
  if (!isRecord(json)) return undefined;
  const { configHash, consumed, commit, appliedAt, result, error, outputs, outputVersions, initMillis, drift, stateLocation } = json;
  if (typeof configHash !== 'string' || typeof appliedAt !== 'string' || (result !== 'success' && result !== 'failed')) return undefined;
  if (!optionalString(commit) || !optionalString(error) || !optionalString(stateLocation)) return undefined;
  if (initMillis !== undefined && !(Number.isSafeInteger(initMillis) && (initMillis as number) >= 0)) return undefined;
  const consumedMap = recordOf(consumed, (v) => Number.isSafeInteger(v));
  const outputsMap = recordOf(outputs, (v) => v === 'string' || v === 'json');
  const versionsMap = recordOf(outputVersions, (v) => Number.isSafeInteger(v));
  if (!consumedMap || !outputsMap || !versionsMap) return undefined;
  let driftValue: ComponentState['drift'];
  if (drift !== undefined) {
    if (!isRecord(drift) || typeof drift['checkedAt'] !== 'string' || typeof drift['drifted'] !== 'boolean' || !optionalString(drift['summary'])) return undefined;
    driftValue = { checkedAt: drift['checkedAt'], drifted: drift['drifted'], ...(drift['summary'] === undefined ? {} : { summary: drift['summary'] as string }) };
  }
  return {
    configHash,
    consumed: consumedMap as Record<string, number>,
    ...(commit === undefined ? {} : { commit: commit as string }),
    appliedAt,
    result,
    ...(error === undefined ? {} : { error: error as string }),
    outputs: outputsMap as Record<string, 'string' | 'json'>,
    outputVersions: versionsMap as Record<string, number>,
    ...(initMillis === undefined ? {} : { initMillis: initMillis as number }),
    ...(driftValue === undefined ? {} : { drift: driftValue }),
    ...(stateLocation === undefined ? {} : { stateLocation: stateLocation as string }),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

function optionalString(value: unknown): boolean {
  return value === undefined || typeof value === 'string';
}

/**
 * A record whose every value passes `ok` ({} when absent), or undefined (zod decides then). The record itself, not
 * a copy: it was just made by JSON.parse and nothing else holds it.
 */
function recordOf(value: unknown, ok: (v: unknown) => boolean): Record<string, unknown> | undefined {
  if (value === undefined) return {};
  if (!isRecord(value)) return undefined;
  for (const key of Object.keys(value)) if (key === '__proto__' || !ok(value[key])) return undefined;
  return value;
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
