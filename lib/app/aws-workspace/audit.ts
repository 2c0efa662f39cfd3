/** The audit log of the serverless API: DynamoDB (KARMA_AUDIT_TABLE). Apart, so the read function never bundles it. */
import type { AuditLog } from '../../ports.ts';
import { DynamoAuditLog } from '../../adapters/dynamodb/audit-log.ts';
import { ApiSetupError, type AwsWorkspaceSettings } from './settings.ts';

/** The audit log in DynamoDB (KARMA_AUDIT_TABLE), opened on first use. */
export function openAuditLog(s: AwsWorkspaceSettings): AuditLog {
  if (!s.auditTable) throw new ApiSetupError('KARMA_AUDIT_TABLE is not set: this function has no audit log');
  return new DynamoAuditLog({ table: s.auditTable, ...(s.region ? { region: s.region } : {}), ...(s.endpoints.dynamodb ? { endpoint: s.endpoints.dynamodb } : {}) });
}

