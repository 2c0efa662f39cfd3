/**
 * Runs statemachines/pipeline.asl.json locally with aws-local-stepfunctions: the SAME definition CDK deploys.
 * Placeholders get stand-in ARNs; every Lambda Task is overridden, by state name, with the step handler it
 * names (in-process), and the CodeBuild Task with a local function (which runs the same `karma component ...`
 * command CodeBuild's buildspec runs). Wait states can be shortened.
 */
import { readFileSync } from 'node:fs';
import { StateMachine } from 'aws-local-stepfunctions';
import { KarmaError } from '../../core/errors.ts';
import { APPLY_STATE, applyProjectName, applyTaskTimeoutSeconds, CODEBUILD_SUBSTITUTION, FUNCTION_SUBSTITUTIONS, unknownMatchedErrors, type HandlerName, type StepHandler } from '../../core/pipeline-contract.ts';

export const PIPELINE_DEFINITION = new URL('../../../statemachines/pipeline.asl.json', import.meta.url);

/** TimeoutSeconds of ApplyWave's ApplyComponent in the definition file (or `text`): see the contract. */
export function definitionApplyTimeoutSeconds(text: string = readFileSync(PIPELINE_DEFINITION, 'utf8')): number {
  return applyTaskTimeoutSeconds(JSON.parse(text) as Record<string, unknown>);
}

type Json = Record<string, unknown>;

export class DefinitionError extends KarmaError {
  override readonly name: string = 'DefinitionError';
}

/**
 * A Retry or Catch on a Karma error that no class is known to raise under that literal name would silently never
 * fire in AWS (minified bundles): refuse such a definition, here and in the CDK construct.
 */
export function assertKnownErrors(definition: Json): void {
  const unknown = unknownMatchedErrors(definition);
  if (unknown.length > 0) {
    throw new DefinitionError(
      `state machine definition: ErrorEquals names ${unknown.join(', ')}, which lib/core/pipeline-contract.ts (MATCHED_ERRORS) does not list; add it there and give its class a literal name`,
    );
  }
}

/** Replaces `${Name}` placeholders; any placeholder left is an error naming it. */
export function substitute(text: string, values: Readonly<Record<string, string>>): string {
  const out = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (m, key: string) => values[key] ?? m);
  const left = /\$\{([A-Za-z0-9_]+)\}/.exec(out);
  if (left) throw new DefinitionError(`state machine definition: no value for placeholder \${${left[1]}}`);
  return out;
}

/** Every Task state (Map item processors included) with its Resource, by state name. */
export function taskStates(definition: Json): Map<string, string> {
  const tasks = new Map<string, string>();
  const walk = (states: Record<string, Json>): void => {
    for (const [name, state] of Object.entries(states)) {
      if (state['Type'] === 'Task') tasks.set(name, String(state['Resource']));
      const processor = (state['ItemProcessor'] ?? state['Iterator']) as { States?: Record<string, Json> } | undefined;
      if (processor?.States) walk(processor.States);
      for (const branch of (state['Branches'] as { States: Record<string, Json> }[] | undefined) ?? []) walk(branch.States);
    }
  };
  walk(definition['States'] as Record<string, Json>);
  return tasks;
}

const STAND_IN_ACCOUNT = '123456789012';
/** The stand-in for the deployed project prefix: ApplyComponent must name `karma-component-<env>`. */
const LOCAL_PROJECT_PREFIX = 'karma-component';
const functionArn = (handler: string): string => `arn:aws:lambda:us-east-1:${STAND_IN_ACCOUNT}:function:karma-${handler}`;

export interface ApplyRequest {
  readonly env: string;
  readonly component: string;
  readonly mode: 'apply' | 'plan' | 'drift';
  readonly commit: string;
  readonly executionId: string;
}

export interface LocalRunOptions {
  readonly handlers: Readonly<Record<HandlerName, StepHandler>>;
  /** Stands in for CodeBuild startBuild.sync: resolves when the component's command succeeded, throws otherwise. */
  readonly applyComponent: (request: ApplyRequest) => Promise<void>;
  readonly input: unknown;
  readonly executionId: string;
  readonly waitMillis?: number;
  readonly onEvent?: (event: LocalEvent) => void;
  readonly definitionText?: string;
  /** Aborting stops the execution: no further state starts (StopExecution's local stand-in). */
  readonly signal?: AbortSignal;
}

export interface LocalEvent {
  readonly type: string;
  readonly state?: string;
  readonly index?: number;
  readonly input?: unknown;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: unknown;
}

export interface LocalRunResult {
  readonly status: 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly millis: number;
}

/** The CodeBuild environment overrides → the apply request. */
function requestFrom(input: unknown): ApplyRequest {
  const vars = new Map(((input as Json)['EnvironmentVariablesOverride'] as { Name: string; Value: string }[]).map((v) => [v.Name, v.Value]));
  return {
    env: vars.get('KARMA_ENV')!,
    component: vars.get('KARMA_COMPONENT')!,
    mode: vars.get('KARMA_MODE') as ApplyRequest['mode'],
    commit: vars.get('KARMA_COMMIT') ?? '',
    executionId: vars.get('KARMA_EXECUTION') ?? '',
  };
}

export function loadDefinition(text?: string): Json {
  const raw = text ?? readFileSync(PIPELINE_DEFINITION, 'utf8');
  const values: Record<string, string> = { [CODEBUILD_SUBSTITUTION]: LOCAL_PROJECT_PREFIX };
  for (const [key, handler] of Object.entries(FUNCTION_SUBSTITUTIONS)) values[key] = functionArn(handler);
  const definition = JSON.parse(substitute(raw, values)) as Json;
  assertKnownErrors(definition);
  return definition;
}

export async function runLocal(options: LocalRunOptions): Promise<LocalRunResult> {
  const started = performance.now();
  const definition = loadDefinition(options.definitionText);
  const byArn = new Map(Object.values(FUNCTION_SUBSTITUTIONS).map((h) => [functionArn(h), h]));
  const overrides: Record<string, (input: never) => Promise<never>> = {};
  for (const [state, resource] of taskStates(definition)) {
    if (state === APPLY_STATE) {
      overrides[state] = (async (input: unknown) => {
        const request = requestFrom(input);
        // The deployed state machine starts the item's environment's project: the same formula must hold here.
        const project = (input as Json)['ProjectName'];
        const expected = applyProjectName(LOCAL_PROJECT_PREFIX, request.env);
        if (project !== expected) throw new DefinitionError(`state machine definition: ${APPLY_STATE} starts project ${JSON.stringify(project)} for environment ${request.env}; expected ${expected} (applyProjectName in lib/core/pipeline-contract.ts)`);
        await options.applyComponent(request);
        return { Build: { Id: `karma-component:local-${request.env}-${request.component}`, BuildStatus: 'SUCCEEDED' } };
      }) as never;
      continue;
    }
    const handler = byArn.get(resource);
    if (!handler) throw new DefinitionError(`state machine definition: Task state "${state}" calls ${resource}, which no local handler serves`);
    overrides[state] = ((input: unknown) => options.handlers[handler](input)) as never;
  }
  const waits: Record<string, number> = {};
  for (const [name, state] of Object.entries(definition['States'] as Record<string, Json>)) if (state['Type'] === 'Wait') waits[name] = options.waitMillis ?? 1000;

  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  const execution = machine.run(options.input as never, {
    overrides: { taskResourceLocalHandlers: overrides as never, waitTimeOverrides: waits },
    context: { Execution: { Id: options.executionId, Input: options.input as never, Name: options.executionId.split(':').pop()!, StartTime: new Date().toISOString(), RoleArn: `arn:aws:iam::${STAND_IN_ACCOUNT}:role/karma-local` } } as never,
  });
  const abort = (): void => execution.abort();
  if (options.signal?.aborted) abort();
  else options.signal?.addEventListener('abort', abort, { once: true });
  const follow = (async () => {
    for await (const e of execution.eventLogs) {
      const ev = e as unknown as { type: string; state?: { name: string; input?: unknown; output?: unknown }; index?: number; Error?: string; Cause?: unknown };
      options.onEvent?.({
        type: ev.type,
        ...(ev.state ? { state: ev.state.name, input: ev.state.input, output: ev.state.output } : {}),
        ...(ev.index !== undefined ? { index: ev.index } : {}),
        ...(ev.Error ? { error: ev.Error, cause: ev.Cause } : {}),
      });
    }
  })();
  try {
    const output = await execution.result;
    await follow;
    return { status: 'SUCCEEDED', output, millis: Math.round(performance.now() - started) };
  } catch (error) {
    await follow.catch(() => undefined);
    // aws-local-stepfunctions wraps the failure (a Fail state's Error/Cause, or an uncaught task error) in an
    // ExecutionError whose `cause` is the original: report that, as Step Functions does.
    const outer = error as Error & { cause?: unknown };
    if (outer.name === 'ExecutionAbortedError') return { status: 'ABORTED', millis: Math.round(performance.now() - started) };
    const e = outer.name === 'ExecutionError' && outer.cause instanceof Error ? outer.cause : outer;
    return { status: 'FAILED', error: e.name, cause: e.message, millis: Math.round(performance.now() - started) };
  } finally {
    options.signal?.removeEventListener('abort', abort);
  }
}
