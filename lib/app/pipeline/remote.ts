/**
 * The deployed pipeline: start an execution of the state machine CDK deployed, and follow it.
 *
 * Execution names are derived from the input (environment, mode, commit or ref, and a hash of the whole
 * input), so starting the same thing twice is idempotent: Step Functions returns the running execution
 * instead of starting a second one. A finished execution with the same name is reported, not re-run;
 * `name` (--name) starts a new one on purpose.
 */
import { createHash } from 'node:crypto';
import { KarmaError, UsageError } from '../../core/errors.ts';
import { canonicalJson } from '../../core/hash.ts';
import type { ExecutionDescription, PipelineExecutions } from '../../ports.ts';
import { ExecutionInput } from './model.ts';

export interface RemoteOptions {
  readonly stateMachineArn?: string;
  /** Where Step Functions is, when `executions` is not given. */
  readonly region?: string;
  readonly endpoint?: string;
  /** The executions port; by default Step Functions (lib/adapters/stepfunctions/executions.ts) at region/endpoint. */
  readonly executions?: PipelineExecutions;
}

export class RemotePipelineError extends KarmaError {
  override readonly name: string = 'RemotePipelineError';
}

/** The region an ARN names (`arn:aws:states:<region>:...`), if any. */
export function arnRegion(arn: string): string | undefined {
  return /^arn:aws[a-z-]*:states:([a-z0-9-]+):/.exec(arn)?.[1];
}

/**
 * The port given, else Step Functions for `arn`: in --region, else the ARN's own region, else the SDK chain's
 * (the SDK loaded only when a remote command runs).
 */
async function executionsOf(options: RemoteOptions, arn: string): Promise<PipelineExecutions> {
  if (options.executions) return options.executions;
  const region = options.region ?? arnRegion(arn);
  const { SfnExecutions } = await import('../../adapters/stepfunctions/executions.ts');
  return new SfnExecutions({ ...(region ? { region } : {}), ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
}

export function stateMachineArn(options: RemoteOptions): string {
  const arn = options.stateMachineArn ?? process.env['KARMA_STATE_MACHINE_ARN'];
  if (!arn) throw new UsageError('no state machine: pass --state-machine ARN or set KARMA_STATE_MACHINE_ARN (the StateMachineArn output of the deployed stack, named Karma unless settings.stackName says otherwise)');
  if (!/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$/.test(arn)) throw new UsageError(`"${arn}" is not a Step Functions state machine ARN`);
  return arn;
}

/** `<env|all>-<mode>-<commit|ref|head>-<hash of the input>`, at most 80 characters of [A-Za-z0-9_-]. */
export function executionName(input: ExecutionInput): string {
  const at = (input.commit ?? input.ref ?? 'head').replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 20);
  const hash = createHash('sha256').update(canonicalJson(input)).digest('hex').slice(0, 12);
  return `${input.env ?? 'all'}-${input.mode ?? 'apply'}-${at}-${hash}`.slice(0, 80);
}

export interface Started {
  readonly executionArn: string;
  readonly name: string;
  /** false when an execution with this name already existed (running: the same one; finished: not re-run). */
  readonly started: boolean;
  readonly status?: string;
}

export async function startRemotePipeline(raw: Record<string, unknown>, options: RemoteOptions & { name?: string } = {}): Promise<Started> {
  const parsed = ExecutionInput.safeParse(raw);
  if (!parsed.success) throw new UsageError(`invalid execution input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ')}`);
  const arn = stateMachineArn(options);
  const name = options.name ?? executionName(parsed.data);
  const executions = await executionsOf(options, arn);
  let out: { executionArn: string; started: boolean };
  try {
    out = await executions.start(arn, name, JSON.stringify(parsed.data));
  } catch (error) {
    throw new RemotePipelineError(`StartExecution on ${arn} failed: ${(error as Error).name}: ${(error as Error).message}`, { cause: error });
  }
  if (out.started) return { executionArn: out.executionArn, name, started: true };
  const existing = await describeRemote(out.executionArn, { ...options, executions });
  return { executionArn: out.executionArn, name, started: false, ...(existing.status ? { status: existing.status } : {}) };
}

export async function describeRemote(executionArn: string, options: RemoteOptions = {}): Promise<ExecutionDescription> {
  const executions = await executionsOf(options, executionArn);
  let out: ExecutionDescription | undefined;
  try {
    out = await executions.describe(executionArn);
  } catch (error) {
    throw new RemotePipelineError(`DescribeExecution ${executionArn} failed: ${(error as Error).name}: ${(error as Error).message}`, { cause: error });
  }
  if (!out) throw new UsageError(`no execution ${executionArn}`);
  return out;
}
