/**
 * Running the `karma` CLI in process (lib/cli/main.ts with an in-memory IO), as the CLI tests do.
 */
import { expect } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { memoryIO } from '../../lib/cli/io.ts';

/** What a command did: its exit code and the lines it printed on each stream. */
export type Run = { code: number; stdout: string[]; stderr: string[] };

export async function karma(...argv: string[]): Promise<Run> {
  const io = memoryIO();
  const code = await main(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

/** The one JSON document a `--json` command printed: exactly one stdout entry, nothing on stderr. */
export function onlyJson(run: Run): unknown {
  expect(run.stderr).toEqual([]);
  expect(run.stdout).toHaveLength(1);
  return JSON.parse(run.stdout[0]!);
}
