/** The API's change routes (POST /request-change, GET /changes[/{id}], POST /changes/{id}/apply): the Git remote, Step Functions, the audit log. */
import { apiHandler } from '../lib/api/lambda.ts';
import { openAwsChangesWorkspace } from '../lib/app/aws-workspace/changes.ts';

export const handler = apiHandler('changes', openAwsChangesWorkspace);
