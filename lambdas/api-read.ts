/** The API's read routes (GET /graph, /plan, /impact, /components/{env}/{name}): Git + SSM + Neptune. */
import { apiHandler } from '../lib/api/lambda.ts';
import { openAwsReadWorkspace } from '../lib/app/aws-workspace/reads.ts';

export const handler = apiHandler('read', openAwsReadWorkspace);
