/**
 * The CLI shell (lib/cli/main.ts): help for nested commands, typos before missing options, what each command's
 * help says its options mean, and options reaching commands with their types.
 */
import { describe, expect, it } from 'vitest';
import { karma } from '../../support/cli.ts';


/** The option flags a command's help lists (`--env`, `--terraform`, ...). */
function listedOptions(help: string): string[] {
  return [...help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!);
}

describe('help', () => {
  it('`karma help graph order` shows the help of graph order, not of graph', async () => {
    // Act
    const run = await karma('help', 'graph', 'order');

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout.join('\n')).toMatch(/^Usage: karma graph order \[options\]/);
  });

  it('`karma help` with words that are not a command is a usage error', async () => {
    // Act
    const run = await karma('help', 'grpah', 'order');

    // Assess
    expect(run.code).toBe(2);
    expect(run.stdout).toEqual([]);
    expect(run.stderr).toEqual(["karma: unknown command 'grpah' (did you mean graph?)"]);
  });

  it('`karma help graph` still shows the help of graph', async () => {
    // Act
    const run = await karma('help', 'graph');

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout.join('\n')).toMatch(/^Usage: karma graph \[options\] \[command\]/);
  });

  it('drift --help says what --commit and --max-parallel mean when nothing is applied', async () => {
    // Act
    const help = (await karma('drift', '--help')).stdout.join('\n').replace(/\s+/g, ' ');

    // Assess
    expect(help).toContain('the config commit whose Terraform is compared with the real resources');
    expect(help).toContain('drift checks (terraform plan) run at once (default 4)');
    expect(help).not.toContain('the config commit to apply');
    expect(help).not.toContain('components applied at once');
  });

  it('pipeline start --help lists only what the deployed state machine takes', async () => {
    // Act
    const help = (await karma('pipeline', 'start', '--help')).stdout.join('\n');

    // Assess
    expect(listedOptions(help)).toEqual([
      '--env',
      '--component',
      '--ref',
      '--commit',
      '--lock-timeout',
      '--trigger',
      '--mode',
      '--state-machine',
      '--name',
      '--region',
      '--json',
      '--help',
    ]);
  });
});

describe('typos before missing options', () => {
  it('`graph order --evn x` is an unknown option with its suggestion, not a missing --env', async () => {
    // Act
    const run = await karma('graph', 'order', '--evn', 'x');

    // Assess
    expect(run).toEqual({ code: 2, stdout: [], stderr: ["karma: unknown option '--evn' (did you mean --env?)"] });
  });

  it('a mistyped option of propose-change is named before its missing --input', async () => {
    // Act
    const run = await karma('propose-change', 'network', 'karma-dev', '--inptu', 'x.json');

    // Assess
    expect(run).toEqual({ code: 2, stdout: [], stderr: ["karma: unknown option '--inptu' (did you mean --input?)"] });
  });

  it('a required option that is really missing is still named, as one line with --json too', async () => {
    // Act
    const text = await karma('propose-change', 'network', 'karma-dev');
    const json = await karma('propose-change', 'network', 'karma-dev', '--json');

    // Assess
    expect(text).toEqual({ code: 2, stdout: [], stderr: ["karma: required option '-i, --input <file>' not specified"] });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout[0]!)).toEqual({ error: { name: 'UsageError', message: "required option '-i, --input <file>' not specified", exitCode: 2 } });
  });
});

describe('start-up', () => {
  it('--version and --help load no command module (the AWS SDK, gremlin and isomorphic-git stay unloaded)', async () => {
    // Arrange: main.ts imports command modules only inside actions; a static import would show in its source.
    const { readFileSync } = await import('node:fs');
    const source = readFileSync(new URL('../../../lib/cli/main.ts', import.meta.url), 'utf8');

    // Assess
    const staticImports = [...source.matchAll(/^import (?!type )[^;]*from '([^']+)'/gm)].map((m) => m[1]);
    expect(staticImports).toEqual(['commander', '../../package.json', '../core/errors.ts', './io.ts']);
  });
});
