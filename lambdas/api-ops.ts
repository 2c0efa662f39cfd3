/** The API's ops routes (GET /executions/{id}, GET /audit): Step Functions and the audit log. */
import { apiHandler } from '../lib/api/lambda.ts';
import { openAwsOpsWorkspace } from '../lib/app/aws-workspace/ops.ts';

export const handler = apiHandler('ops', openAwsOpsWorkspace);
