/**
 * The PipelineExecutions port on the Step Functions API: StartExecution and DescribeExecution. Errors other
 * than "already exists" / "does not exist" are the SDK's own; the caller says what it was doing.
 */
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { ExecutionDescription, PipelineExecutions } from '../../ports.ts';

export interface SfnExecutionsOptions {
  readonly region?: string;
  /** An endpoint override (a local moto server); AWS_ENDPOINT_URL_SFN when not given. */
  readonly endpoint?: string;
}

export class SfnExecutions implements PipelineExecutions {
  readonly client: SFNClient;

  constructor(client: SFNClient | SfnExecutionsOptions = {}) {
    if (client instanceof SFNClient) {
      this.client = client;
      return;
    }
    const endpoint = client.endpoint ?? process.env['AWS_ENDPOINT_URL_SFN'];
    this.client = new SFNClient({ ...(client.region ? { region: client.region } : {}), ...(endpoint ? { endpoint } : {}) });
  }

  async start(stateMachineArn: string, name: string, input: string): Promise<{ executionArn: string; started: boolean }> {
    try {
      const out = await this.client.send(new StartExecutionCommand({ stateMachineArn, name, input }));
      return { executionArn: out.executionArn!, started: true };
    } catch (error) {
      if (error instanceof ExecutionAlreadyExists) return { executionArn: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`, started: false };
      throw error;
    }
  }

  async describe(executionArn: string): Promise<ExecutionDescription | undefined> {
    try {
      const out = await this.client.send(new DescribeExecutionCommand({ executionArn }));
      return {
        executionArn: out.executionArn ?? executionArn,
        ...(out.status ? { status: out.status } : {}),
        ...(out.startDate ? { startDate: out.startDate } : {}),
        ...(out.stopDate ? { stopDate: out.stopDate } : {}),
        ...(out.input !== undefined ? { input: out.input } : {}),
        ...(out.output !== undefined ? { output: out.output } : {}),
        ...(out.error !== undefined ? { error: out.error } : {}),
        ...(out.cause !== undefined ? { cause: out.cause } : {}),
      };
    } catch (error) {
      if (error instanceof ExecutionDoesNotExist) return undefined;
      throw error;
    }
  }
}
