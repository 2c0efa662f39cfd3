/**
 * The serverless workspace: the API's routes on what the deployed stack keeps (the config repo's Git remote, SSM,
 * Neptune, the state machine, the DynamoDB audit log). Each API function opens only its group's part, so its bundle
 * holds only what its routes import (lambdas/api-*.ts; sizes in docs/api-serverless.md):
 *
 *   read     lib/app/aws-workspace/reads.ts    Git + SSM (builds), Neptune (the stored graph, refresh writes)
 *   changes  lib/app/aws-workspace/changes.ts  a clone of the Git remote in /tmp, Step Functions, the audit log
 *   ops      lib/app/aws-workspace/ops.ts      Step Functions, the audit log
 *
 * `openAwsWorkspace` opens all of them (one process serving every route: tests, `karma serve` on AWS).
 * Settings: lib/app/aws-workspace/settings.ts.
 */
import type { Workspace } from './workspace.ts';
import { openAuditLog } from './aws-workspace/audit.ts';
import { awsChanges } from './aws-workspace/changes.ts';
import { awsOps } from './aws-workspace/ops.ts';
import { awsReads, type AwsReads } from './aws-workspace/reads.ts';
import { awsWorkspaceSettings, composeWorkspace } from './aws-workspace/settings.ts';

export { openAwsChangesWorkspace } from './aws-workspace/changes.ts';
export { openAwsOpsWorkspace } from './aws-workspace/ops.ts';
export { openAwsReadWorkspace, type AwsReads, type StoredGraph } from './aws-workspace/reads.ts';
export { ApiSetupError } from './aws-workspace/settings.ts';

/** Every route's part, on one set of settings. `reads.storedGraph()` is the stored graph (see reads.ts). */
export async function openAwsWorkspace(env: NodeJS.ProcessEnv = process.env): Promise<Workspace & { readonly reads: AwsReads }> {
  const s = awsWorkspaceSettings(env);
  const reads = awsReads(s);
  return { ...composeWorkspace(`serverless: config ${s.config}`, { read: reads, changes: awsChanges(s), ops: awsOps(s, () => openAuditLog(s)) }), reads };
}
