/** `karma completion bash|zsh|fish` (lib/cli/commands/completion.ts): scripts generated from the program. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../../lib/cli/main.ts';
import { memoryIO } from '../../../lib/cli/io.ts';

async function script(shell: string): Promise<string> {
  const io = memoryIO();
  expect(await main(['completion', shell], io)).toBe(0);
  expect(io.stderr).toEqual([]);
  return io.stdout.join('\n');
}

/** Runs `shell` on a file holding `text` followed by `probe`; its stdout. */
function runShell(shell: string, text: string, probe: string): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'karma-completion-'));
  try {
    const file = join(dir, 'completion');
    writeFileSync(file, `${text}\n${probe}\n`);
    const run = spawnSync(shell, [file], { encoding: 'utf8' });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const has = (shell: string): boolean => spawnSync(shell, ['-c', 'exit 0']).status === 0;

/** bash: what the completion function offers for the words typed so far (the last one is being completed). */
const bashProbe = (...words: string[]): string =>
  `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _karma_completion; echo "\${COMPREPLY[*]}"`;

describe('karma completion bash', () => {
  it('is valid bash (bash -n)', async () => {
    // Arrange
    const text = await script('bash');
    const dir = mkdtempSync(join(tmpdir(), 'karma-completion-'));
    writeFileSync(join(dir, 'karma.bash'), text);

    // Act
    const run = spawnSync('bash', ['-n', join(dir, 'karma.bash')], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });

    // Assess
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('completes the commands, the subcommands of graph, options and option values', async () => {
    // Arrange
    const text = await script('bash');

    // Act
    const top = runShell('bash', text, bashProbe('karma', ''));
    const graph = runShell('bash', text, bashProbe('karma', 'graph', ''));
    const env = runShell('bash', text, bashProbe('karma', 'graph', 'order', '--e'));
    const format = runShell('bash', text, bashProbe('karma', 'graph', 'show', '--format', ''));
    const shells = runShell('bash', text, bashProbe('karma', 'completion', ''));

    // Assess
    expect(top.stdout.trim().split(' ')).toEqual(
      expect.arrayContaining(['init', 'completion', 'graph', 'runtime', 'component', 'pipeline', 'drift', 'propose-change', 'plan', 'proposals', 'apply', 'lock', 'destroy', 'forget']),
    );
    expect(graph.stdout.trim()).toBe('build validate order impact show diff history why help --help');
    expect(env.stdout.trim()).toBe('--env');
    expect(format.stdout.trim()).toBe('table json dot mermaid picture');
    expect(shells.stdout.trim()).toBe('bash zsh fish --help');
  });

  it('registers for both bin names', async () => {
    expect(await script('bash')).toMatch(/^complete -o default -F _karma_completion karma karma-infra$/m);
  });
});

describe('karma completion zsh and fish', () => {
  it.skipIf(!has('zsh'))('zsh: valid (zsh -n), through bashcompinit', async () => {
    const run = runShell('zsh', '', '');
    expect(run.status).toBe(0);
    const text = await script('zsh');
    expect(text.split('\n')[1]).toBe('autoload -U +X bashcompinit && bashcompinit');
    const dir = mkdtempSync(join(tmpdir(), 'karma-completion-'));
    writeFileSync(join(dir, 'karma.zsh'), text);
    const check = spawnSync('zsh', ['-n', join(dir, 'karma.zsh')], { encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    expect(check.status).toBe(0);
  });

  it.skipIf(!has('fish'))('fish: completes the subcommands of graph with their descriptions', async () => {
    // Act
    const run = runShell('fish', await script('fish'), "complete -C'karma graph '");

    // Assess
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('order\tapply waves, per environment');
    expect(run.stdout).toContain('validate\tcheck the config repo');
  });

  it('fish: one complete line per option and subcommand, for both bin names', async () => {
    const text = await script('fish');
    expect(text).toContain("complete -c karma -n '__karma_at \\'graph order\\'' -l env -s e -r -F -d 'only this environment (default: every environment, in the order a run applies them)'");
    expect(text).toContain("complete -c karma-infra -n '__karma_at \\'graph\\'' -a 'order'");
  });
});

describe('karma completion with a shell it does not know', () => {
  it('is a usage error naming the choices', async () => {
    const io = memoryIO();
    expect(await main(['completion', 'powershell'], io)).toBe(2);
    expect(io.stderr).toEqual(["karma: command-argument value 'powershell' is invalid for argument 'shell'. Allowed choices are bash, zsh, fish."]);
  });
});
