/**
 * The pipeline's step handlers by name, and which state of statemachines/pipeline.asl.json runs which.
 * Lambda (lambdas/*.ts) and the local runner both go through `makeHandlers`, so both run the same code.
 */
import type { PipelineContext } from './steps.ts';
import { acquireLockStep, buildStep, normalize, planStep, recordStep, releaseLockStep, summarizeStep } from './steps.ts';

export type StepHandler = (event: unknown) => Promise<unknown>;
export const HANDLER_NAMES = ['normalize', 'build', 'acquireLock', 'plan', 'record', 'summarize', 'releaseLock'] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

export function makeHandlers(ctx: PipelineContext): Record<HandlerName, StepHandler> {
  return {
    normalize: async (event) => normalize(event as { input: unknown; executionId: string }),
    build: (event) => buildStep(event, ctx),
    acquireLock: (event) => acquireLockStep(event, ctx),
    plan: (event) => planStep(event, ctx),
    record: async (event) => recordStep(event),
    summarize: (event) => summarizeStep(event, ctx),
    releaseLock: (event) => releaseLockStep(event, ctx),
  };
}

/** definitionSubstitutions key → the handler that function runs (CDK creates one function per handler). */
export const FUNCTION_SUBSTITUTIONS: Readonly<Record<string, HandlerName>> = {
  NormalizeFunctionArn: 'normalize',
  BuildFunctionArn: 'build',
  AcquireLockFunctionArn: 'acquireLock',
  PlanFunctionArn: 'plan',
  RecordFunctionArn: 'record',
  SummarizeFunctionArn: 'summarize',
  ReleaseLockFunctionArn: 'releaseLock',
};

/** The CodeBuild project that runs `karma component <mode> <component> <env>`. */
export const CODEBUILD_SUBSTITUTION = 'CodeBuildProjectName';
/** The Map's task that applies one component. */
export const APPLY_STATE = 'ApplyComponent';
