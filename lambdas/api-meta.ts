/** The API's meta routes (GET /healthz, GET /openapi.json): no workspace, so no Git, SSM, Neptune or AWS client in the bundle. */
import { apiHandler, noWorkspace } from '../lib/api/lambda.ts';

export const handler = apiHandler('meta', noWorkspace);
