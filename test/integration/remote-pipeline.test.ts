/** `karma pipeline start/status` against moto's Step Functions API (moto records executions; it runs nothing). */
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { beforeAll, describe, expect, it } from 'vitest';
import { executionName, startRemotePipeline, describeRemote } from '../../lib/app/pipeline/remote.ts';
import { SfnExecutions } from '../../lib/adapters/stepfunctions/executions.ts';
import { loadDefinition } from '../../lib/adapters/stepfunctions/local-runner.ts';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { motoClientConfig, withEnv } from '../support/stand-ins.ts';

let client: SFNClient;
let arn: string;

beforeAll(async () => {
  client = new SFNClient(motoClientConfig());
  const out = await client.send(
    new CreateStateMachineCommand({ name: `karma-pipeline-${Date.now()}`, definition: JSON.stringify(loadDefinition()), roleArn: 'arn:aws:iam::123456789012:role/karma-sfn' }),
  );
  arn = out.stateMachineArn!;
});

describe('the deployed pipeline (Step Functions API on moto)', () => {
  it('starts an execution named after its input; the same input again is the same execution', async () => {
    // Act
    const first = await startRemotePipeline({ env: 'karma-dev', mode: 'apply', commit: 'abcdef0123' }, { stateMachineArn: arn, executions: new SfnExecutions(client) });
    const again = await startRemotePipeline({ env: 'karma-dev', mode: 'apply', commit: 'abcdef0123' }, { stateMachineArn: arn, executions: new SfnExecutions(client) });
    const other = await startRemotePipeline({ env: 'karma-prod', mode: 'apply', commit: 'abcdef0123' }, { stateMachineArn: arn, executions: new SfnExecutions(client) });
    // Assess
    expect(first.started).toBe(true);
    expect(first.name).toBe(executionName({ trigger: 'manual', env: 'karma-dev', mode: 'apply', commit: 'abcdef0123' }));
    expect(first.name).toMatch(/^karma-dev-apply-abcdef0123-[0-9a-f]{12}$/);
    expect(again.executionArn).toBe(first.executionArn);
    expect(other.executionArn).not.toBe(first.executionArn);
    const described = await describeRemote(first.executionArn, { executions: new SfnExecutions(client) });
    expect(JSON.parse(described.input!)).toEqual({ trigger: 'manual', env: 'karma-dev', mode: 'apply', commit: 'abcdef0123' });
  });

  it('invalid input is refused before anything is started', async () => {
    await expect(startRemotePipeline({ env: 'karma-dev', mode: 'destroy' }, { stateMachineArn: arn, executions: new SfnExecutions(client) })).rejects.toThrow(
      'invalid execution input: mode: Invalid option: expected one of "apply"|"plan"|"drift"',
    );
  });

  it('the CLI: a missing state machine is a usage error; status of an unknown execution is one line', async () => {
    const io = memoryIO();
    await withEnv({ KARMA_STATE_MACHINE_ARN: undefined }, async () => {
      expect(await main(['pipeline', 'start', '--env', 'karma-dev'], io)).toBe(2);
      expect(io.stderr).toEqual(['karma: no state machine: pass --state-machine ARN or set KARMA_STATE_MACHINE_ARN (the StateMachineArn output of the deployed stack, named Karma unless settings.stackName says otherwise)']);
    });
  });
});
