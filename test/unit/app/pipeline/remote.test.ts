/** lib/app/pipeline/remote.ts against a PipelineExecutions port held in memory (no Step Functions). */
import { describe, expect, it } from 'vitest';
import { describeRemote, startRemotePipeline } from '../../../../lib/app/pipeline/remote.ts';
import type { ExecutionDescription, PipelineExecutions } from '../../../../lib/ports.ts';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:karma';

function memoryExecutions(): PipelineExecutions & { readonly runs: Map<string, ExecutionDescription> } {
  const runs = new Map<string, ExecutionDescription>();
  return {
    runs,
    start: async (arn, name, input) => {
      const executionArn = `${arn.replace(':stateMachine:', ':execution:')}:${name}`;
      if (runs.has(executionArn)) return { executionArn, started: false };
      runs.set(executionArn, { executionArn, status: 'RUNNING', input });
      return { executionArn, started: true };
    },
    describe: async (executionArn) => runs.get(executionArn),
  };
}

describe('the deployed pipeline through the PipelineExecutions port', () => {
  it('the same input twice is one execution, reported with its status the second time', async () => {
    // Prepare
    const executions = memoryExecutions();
    // Act
    const first = await startRemotePipeline({ env: 'karma-dev', mode: 'apply', commit: 'abcdef0123' }, { stateMachineArn: ARN, executions });
    const again = await startRemotePipeline({ env: 'karma-dev', mode: 'apply', commit: 'abcdef0123' }, { stateMachineArn: ARN, executions });
    // Assess
    expect(first).toEqual({ executionArn: `arn:aws:states:eu-west-1:123456789012:execution:karma:${first.name}`, name: first.name, started: true });
    expect(again).toEqual({ ...first, started: false, status: 'RUNNING' });
    expect(executions.runs.size).toBe(1);
    expect(JSON.parse(executions.runs.get(first.executionArn)!.input!)).toEqual({ trigger: 'manual', env: 'karma-dev', mode: 'apply', commit: 'abcdef0123' });
  });

  it('an unknown execution is a usage error naming it', async () => {
    await expect(describeRemote('arn:aws:states:eu-west-1:123456789012:execution:karma:nope', { executions: memoryExecutions() })).rejects.toMatchObject({
      name: 'UsageError',
      message: 'no execution arn:aws:states:eu-west-1:123456789012:execution:karma:nope',
    });
  });

  it('a failing Step Functions call is a RemotePipelineError that says what was being done', async () => {
    // Prepare
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
    const executions: PipelineExecutions = { start: async () => Promise.reject(denied), describe: async () => Promise.reject(denied) };
    // Act / Assess
    await expect(startRemotePipeline({ env: 'karma-dev' }, { stateMachineArn: ARN, executions })).rejects.toMatchObject({
      name: 'RemotePipelineError',
      message: `StartExecution on ${ARN} failed: AccessDeniedException: not authorized`,
    });
    await expect(describeRemote(`${ARN}:x`, { executions })).rejects.toMatchObject({ name: 'RemotePipelineError', message: `DescribeExecution ${ARN}:x failed: AccessDeniedException: not authorized` });
  });
});
