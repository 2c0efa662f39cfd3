/**
 * The pipeline's step handlers by name, and which state of statemachines/pipeline.asl.json runs which.
 * Lambda (lambdas/*.ts) and the local runner both go through `makeHandlers`, so both run the same code. The
 * handler names, placeholders and state names are the ASL's contract: lib/core/pipeline-contract.ts.
 */
import type { HandlerName, StepHandler } from '../../core/pipeline-contract.ts';
import type { PipelineContext } from './context.ts';
import { acquireLockStep, buildStep, normalize, planStep, recordStep, releaseLockStep, summarizeStep } from './steps.ts';

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
