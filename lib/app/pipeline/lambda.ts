/**
 * Lambda glue: a Powertools logger (structured JSON, execution id and component as keys), the context from
 * the environment (built once per container), and errors passed through with their names so the state
 * machine's Retry/Catch can tell them apart.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { contextFromEnv } from './context.ts';
import type { HandlerName, StepHandler } from '../../core/pipeline-contract.ts';
import { makeHandlers } from './handlers.ts';

const logger = new Logger({ serviceName: 'karma-pipeline' });
let handlers: ReturnType<typeof makeHandlers> | undefined;

export function lambdaHandler(name: HandlerName): StepHandler {
  return async (event: unknown) => {
    const run = (event as { run?: { executionId?: string } } | undefined)?.run;
    const executionId = run?.executionId ?? (event as { executionId?: string } | undefined)?.executionId;
    logger.resetKeys();
    logger.appendKeys({ step: name, ...(executionId ? { executionId } : {}) });
    handlers ??= makeHandlers(contextFromEnv(process.env, (message, fields) => logger.info(message, { ...fields })));
    try {
      return await handlers[name](event);
    } catch (error) {
      logger.error('step failed', { error: (error as Error).message, errorName: (error as Error).name });
      throw error;
    }
  };
}
