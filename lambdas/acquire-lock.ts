/** Step "acquireLock" of the Karma pipeline (statemachines/pipeline.asl.json). Thin: the work is in lib/app/pipeline/steps.ts. */
import { lambdaHandler } from '../lib/app/pipeline/lambda.ts';

export const handler = lambdaHandler('acquireLock');
