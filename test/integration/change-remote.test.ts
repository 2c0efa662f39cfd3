/**
 * `karma apply --remote` against moto's Step Functions API: it starts the deployed state machine for the
 * environment at the commit, only once that commit is published on a remote branch (the deployed pipeline reads
 * the config from the Git remote); otherwise nothing is started and the message says to push.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import git from 'isomorphic-git';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinition } from '../../lib/adapters/stepfunctions/local-runner.ts';
import { describeRemote } from '../../lib/app/pipeline/remote.ts';
import { SfnExecutions } from '../../lib/adapters/stepfunctions/executions.ts';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';
import { copyRepo, makeTempDir, removeDir, snapshotTree } from '../helpers/config-repo.ts';
import { CREDENTIALS, REGION, motoClientConfig, motoEndpoint, setEnv, withEnv } from '../support/stand-ins.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'acme-platform');

let tmp: string;
let dir: string;
let arn: string;
let client: SFNClient;
let restoreEnv: () => void;

async function karma(...argv: string[]): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
  const io = memoryIO();
  const code = await main(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

beforeAll(async () => {
  // Only Step Functions goes to moto: the region comes from --region.
  restoreEnv = setEnv({ AWS_ENDPOINT_URL_SFN: motoEndpoint(), AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey });
  client = new SFNClient(motoClientConfig());
  const out = await client.send(
    new CreateStateMachineCommand({ name: `karma-change-${Date.now()}`, definition: JSON.stringify(loadDefinition()), roleArn: 'arn:aws:iam::123456789012:role/karma-sfn' }),
  );
  arn = out.stateMachineArn!;
  tmp = makeTempDir('karma-change-remote-');
  dir = copyRepo(EXAMPLE, tmp);
  await git.init({ fs, dir, defaultBranch: 'main' });
  await git.add({ fs, dir, filepath: '.' });
  await git.commit({ fs, dir, message: 'initial', author: { name: 'Test', email: 'test@example.com' } });
  await git.addRemote({ fs, dir, remote: 'origin', url: 'https://git.example.com/acme/platform.git' });
});
afterAll(() => {
  restoreEnv();
  removeDir(tmp);
});

describe('karma apply --remote (Step Functions API on moto)', () => {
  it('a missing state machine is a usage error before anything is merged', async () => {
    const input = join(tmp, 'q.yaml');
    fs.writeFileSync(input, 'visibility_timeout: 91\n');
    const { id } = JSON.parse((await karma('propose-change', '--no-plan', 'queue', 'karma-dev', '--input', input, '-c', dir, '--json')).stdout[0]!) as { id: string };
    const before = snapshotTree(dir);
    await withEnv({ KARMA_STATE_MACHINE_ARN: undefined }, async () => {
      const run = await karma('apply', id, '--remote', '-c', dir);
      expect(run).toEqual({ code: 2, stdout: [], stderr: ['karma: no state machine: pass --state-machine ARN or set KARMA_STATE_MACHINE_ARN (the StateMachineArn output of the deployed stack, named Karma unless settings.stackName says otherwise)'] });
      expect(snapshotTree(dir)).toEqual(before);
    });
  });

  it('an unpublished commit is not started (exit 1, says to push); once pushed, the execution starts for env + commit, idempotently', async () => {
    const head = await git.resolveRef({ fs, dir, ref: 'HEAD' });
    const unpublished = await karma('apply', '--env', 'karma-dev', '--remote', '--state-machine', arn, '--region', REGION, '-c', dir);
    expect(unpublished).toEqual({
      code: 1,
      stdout: [],
      stderr: [`karma: not started: ${head.slice(0, 8)} is on no remote branch yet, and the deployed pipeline reads the config from the Git remote; push main (its git-push trigger starts the pipeline), or push and re-run karma apply --env karma-dev --remote`],
    });
    // What a push records locally.
    await git.writeRef({ fs, dir, ref: 'refs/remotes/origin/main', value: head });
    const run = await karma('apply', '--env', 'karma-dev', '--remote', '--state-machine', arn, '--region', REGION, '-c', dir, '--json');
    expect(run.stderr).toEqual([]);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout[0]!) as { merged: null; remote: { executionArn: string; name: string; started: boolean; publishedOn: string } };
    expect(out.merged).toBeNull();
    expect(out.remote).toMatchObject({ started: true, publishedOn: 'origin/main', name: expect.stringMatching(new RegExp(`^karma-dev-apply-${head.slice(0, 20)}-[0-9a-f]{12}$`)) });
    const described = await describeRemote(out.remote.executionArn, { executions: new SfnExecutions(client) });
    expect(JSON.parse(described.input!)).toEqual({ env: 'karma-dev', mode: 'apply', trigger: 'manual', commit: head });
    const again = JSON.parse((await karma('apply', '--env', 'karma-dev', '--remote', '--state-machine', arn, '--region', REGION, '-c', dir, '--json')).stdout[0]!) as typeof out;
    // Same name, same input: Step Functions hands back the same execution (idempotent), not a second one.
    expect(again.remote.executionArn).toBe(out.remote.executionArn);
  });

  it('a proposal whose branch was pushed (for review) merges and starts remotely at the merged commit', async () => {
    const { id, commit } = JSON.parse((await karma('proposals', '-c', dir, '--json')).stdout[0]!).proposals[0] as { id: string; commit: string };
    await git.writeRef({ fs, dir, ref: `refs/remotes/origin/karma/proposals/${id}`, value: commit });
    // Without a decision nothing is merged or started.
    const undecided = await karma('apply', id, '--remote', '--state-machine', arn, '--region', REGION, '-c', dir, '--json');
    expect(undecided.code).toBe(2);
    expect(undecided.stdout.join('\n')).toMatch(/refusing to apply .* without a decision: there is no terminal to ask on; review the plan above, then run again with --yes/);
    expect(await git.resolveRef({ fs, dir, ref: `karma/proposals/${id}` })).toBe(commit);
    const run = await karma('apply', id, '--remote', '--yes', '--state-machine', arn, '--region', REGION, '-c', dir, '--json');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout[0]!) as { merged: { commit: string; how: string }; remote: { executionArn: string; publishedOn: string } };
    expect(out.merged).toMatchObject({ commit, how: 'fast-forward' });
    expect(out.remote.publishedOn).toBe(`origin/karma/proposals/${id}`);
    expect(await git.resolveRef({ fs, dir, ref: 'main' })).toBe(commit);
    expect(JSON.parse((await describeRemote(out.remote.executionArn, { executions: new SfnExecutions(client) })).input!)).toEqual({ env: 'karma-dev', mode: 'apply', trigger: 'manual', commit });
  });
});
