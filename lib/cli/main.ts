/**
 * The `karma` command line: argument parsing only. Commands live in lib/cli/commands as plain functions.
 * One error boundary maps every error to the documented exit code (docs/cli.md):
 *   0 success · 1 operational failure · 2 invalid input or usage
 * With --json, stdout carries only JSON: the result, or {"error":{"name","message",...}}.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { EXIT_INVALID, EXIT_OPERATIONAL, KarmaError } from '../core/errors.ts';
import { graphBuild, graphDiff, graphHistory, graphImpact, graphOrder, graphShow, graphValidate, graphWhy } from './commands/graph.ts';
import { runtimeList, runtimePut, runtimeRecord } from './commands/runtime.ts';
import { componentRun } from './commands/component.ts';
import { pipelineRun, pipelineStart, pipelineStatus } from './commands/pipeline.ts';
import { applyCommand, planProposalCommand, proposalsCommand, proposeChangeCommand } from './commands/change.ts';
import { lockList, lockRelease } from './commands/lock.ts';
import { destroyCommand, forgetCommand } from './commands/destroy.ts';
import { processIO, type IO } from './io.ts';

export function reportError(error: unknown, io: IO, json: boolean): number {
  if (error instanceof KarmaError) {
    if (json) io.out(JSON.stringify({ error: { name: error.name, message: error.message, exitCode: error.exitCode, ...error.details() } }));
    else io.err(`karma: ${error.message.split('\n').join('\nkarma: ')}`);
    return error.exitCode;
  }
  const e = error as Error;
  // Not one of ours: an unexpected failure. One line, never a stack trace (KARMA_DEBUG=1 shows it).
  const message = `unexpected ${e?.name ?? 'error'}: ${e?.message ?? String(error)}`;
  if (json) io.out(JSON.stringify({ error: { name: 'UnexpectedError', message, exitCode: EXIT_OPERATIONAL } }));
  else io.err(`karma: ${message}${process.env['KARMA_DEBUG'] ? `\n${e?.stack ?? ''}` : ' (set KARMA_DEBUG=1 for details)'}`);
  return EXIT_OPERATIONAL;
}

/** Commander's `error: unknown command 'x'\n(Did you mean y?)` → one line: `unknown command 'x' (did you mean y?)`. */
function usageMessage(s: string): string {
  return s
    .replace(/^error: /, '')
    .trim()
    .replace(/\s*\n\s*\(Did you mean (.+)\?\)$/, ' (did you mean $1?)')
    .replace(/\s*\n\s*/g, ' ');
}

/**
 * `karma runtime put NAME VALUE`: VALUE may be a secret, and commander quotes the argument it stumbled on
 * (`unknown option '-s3cr3t'`, `argument 's3cr3t' is invalid`). For that command, every quoted argument the user
 * typed is hidden, and a value that looks like an option gets the two ways to pass it.
 */
function hideArguments(argv: readonly string[], message: string): string {
  const at = argv.findIndex((a, i) => a === 'put' && argv[i - 1] === 'runtime');
  if (at < 0) return message;
  const typed = new Set(argv.slice(at + 1));
  if (/^unknown option '/.test(message)) {
    return 'unknown option (not shown: it may be the value); a VALUE that starts with - goes after --: karma runtime put [options] NAME -- VALUE, or pass - and pipe the value on standard input';
  }
  return message.replace(/'([^']*)'/g, (quoted, inner: string) => (typed.has(inner) ? '(not shown)' : quoted));
}

/** A numeric option's parser: a positive integer (digits only), else commander's one-line usage error, exit 2. */
function positiveInteger(value: string): number {
  const n = /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('It must be a positive integer (1, 2, 3...).');
  return n;
}

type Action = (opts: Record<string, unknown>, io: IO) => Promise<number>;

export async function main(argv: readonly string[], io: IO = processIO()): Promise<number> {
  let exitCode = 0;
  const json = argv.includes('--json');
  const run = (action: Action) => async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const opts = { ...command.optsWithGlobals() };
    try {
      exitCode = await action(opts, io);
    } catch (error) {
      exitCode = reportError(error, io, json);
    }
  };
  const withCommon = (c: Command): Command =>
    c
      .option('-c, --config <dir|url>', 'config repo: a directory or a Git URL (default: $KARMA_CONFIG or .)')
      .option('--ref <ref>', 'read the config from Git at this branch, tag or commit')
      .addOption(new Option('--backend <type>', 'runtime and graph backend (default: karma.yaml backend.type)').choices(['local', 'aws']))
      .option('--store <dir>', 'local store folder (default: karma.yaml backend.path, else .karma in the config repo)')
      .option('--json', 'print only JSON on stdout');

  const program = new Command('karma')
    .description('A live dependency graph of Terraform components across environments, with ordered applies.')
    .version('0.1.0')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => (json ? undefined : io.err(s.trimEnd())),
      outputError: (s, write) => {
        const message = hideArguments(argv, usageMessage(s));
        if (json) io.out(JSON.stringify({ error: { name: 'UsageError', message, exitCode: EXIT_INVALID } }));
        else write(`karma: ${message}\n`);
      },
    });

  const graph = program.command('graph').description('build, inspect and order the dependency graph');
  withCommon(graph.command('build').description('build the graph from config + runtime, write it to the store, print statuses and waves')).action(
    run((o, io) => graphBuild(o, io)),
  );
  withCommon(graph.command('validate').description('check the config repo; exit 2 with one line per problem')).action(run((o, io) => graphValidate(o, io)));
  withCommon(
    graph
      .command('order')
      .description('apply waves, per environment (by default only what needs an apply)')
      .option('-e, --env <env>', 'only this environment (default: every environment, in the order a run applies them)')
      .option('--all', 'every component, not only those that need an apply')
      .option('--destroy', 'reverse order, for destroying'),
  ).action(run((o, io) => graphOrder(o as never, io)));
  withCommon(
    graph
      .command('impact')
      .description('what follows if COMPONENT (or one of its outputs) changes: the downstream closure as waves')
      .argument('<component>')
      .argument('<env>')
      .option('-o, --output <name>', 'start from the consumers of this output'),
  ).action(async (component: string, env: string, ...rest: unknown[]) => run((o, io) => graphImpact({ ...o, component, env } as never, io))(...rest));
  withCommon(
    graph
      .command('show')
      .description('the live graph')
      .option('-e, --env <env>', 'only this environment')
      .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json', 'dot', 'mermaid'])),
  ).action(run((o, io) => graphShow(o as never, io)));
  withCommon(graph.command('diff').description('what changed between two stored builds (default: the last two)').argument('[build-a]').argument('[build-b]')).action(
    async (from: string | undefined, to: string | undefined, ...rest: unknown[]) =>
      run((o, io) => graphDiff({ ...o, ...(from ? { from } : {}), ...(to ? { to } : {}) }, io))(...rest),
  );
  withCommon(graph.command('history').description('stored builds, newest first').option('-n, --limit <n>', 'how many (default 20)', positiveInteger)).action(
    run((o, io) => graphHistory(o, io)),
  );
  withCommon(graph.command('why').description('the chain of reasons behind a status').argument('<component>').argument('<env>')).action(
    async (component: string, env: string, ...rest: unknown[]) => run((o, io) => graphWhy({ ...o, component, env } as never, io))(...rest),
  );

  const runtime = program.command('runtime').description('inspect and adopt runtime state (outputs, apply records, parameters)');
  withCommon(runtime.command('record').description('record applies made outside Karma (adoption, demos) from a JSON/YAML file').argument('<file>')).action(
    async (file: string, ...rest: unknown[]) => run((o, io) => runtimeRecord({ ...o, file }, io))(...rest),
  );
  withCommon(
    runtime
      .command('put')
      .description('set a parameter, as a change made outside Karma')
      .argument('<name>')
      .argument('<value>', 'the value, or - to read it from standard input (keeps a secret out of shell history and process lists)')
      .addOption(new Option('-t, --type <type>', 'parameter type').choices(['String', 'StringList', 'SecureString'])),
  ).action(async (name: string, value: string, ...rest: unknown[]) => run((o, io) => runtimePut({ ...o, name, value } as never, io))(...rest));
  withCommon(runtime.command('list').description('parameters under the prefix, with versions').option('-e, --env <env>', 'only this environment')).action(
    run((o, io) => runtimeList(o, io)),
  );

  const component = program.command('component').description('the Terraform work of one component (what CodeBuild runs)');
  for (const mode of ['apply', 'plan', 'drift'] as const) {
    const what = { apply: 'terraform apply, then record outputs and state', plan: 'terraform plan (records nothing)', drift: 'drift check: terraform plan -detailed-exitcode, recorded in the state' }[mode];
    withCommon(
      component
        .command(mode)
        .description(what)
        .argument('<component>')
        .argument('<env>')
        .option('--commit <sha>', 'the config commit being applied (recorded in the state)')
        .option('--work-dir <dir>', 'Terraform working directories (default: <store>/work)')
        .option('--terraform <binary>', 'terraform, tofu or a path (default: $KARMA_TERRAFORM, karma.yaml, then PATH)')
        .option('-v, --verbose', "stream Terraform's output to stderr")
        .option('--state-moved', 'you moved the state to the configured backend: accept it although the last apply recorded another location'),
    ).action(async (name: string, env: string, ...rest: unknown[]) => run((o, io) => componentRun({ ...o, component: name, env, mode } as never, io))(...rest));
  }

  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  const pipelineOptions = (c: Command): Command =>
    withCommon(
      c
        .option('-e, --env <env>', 'one environment (default: every environment, shared ones first)')
        .option('--component <name>', 'only this component (repeatable)', collect)
        .option('--commit <sha>', 'the config commit to apply (default: --ref, else the working tree)')
        .option('--max-parallel <n>', 'components applied at once (default 4)', positiveInteger)
        .option('--terraform <binary>', 'terraform, tofu or a path')
        .option('--lock-timeout <duration>', 'how long to wait for a busy environment lock: 90s, 10m, 1h (default 1h)'),
    );
  const pipeline = program.command('pipeline').description('the orchestration pipeline (statemachines/pipeline.asl.json)');
  pipelineOptions(
    pipeline
      .command('run')
      .description('execute the pipeline locally from the same ASL file: build, plan, apply wave by wave, re-planning after each')
      .addOption(new Option('--trigger <trigger>', 'what started it').choices(['manual', 'ssm-change', 'git-push', 'schedule']))
      .addOption(new Option('--mode <mode>', 'apply (default), plan, or drift').choices(['apply', 'plan', 'drift'])),
  ).action(run((o, io) => pipelineRun(o, io)));
  pipelineOptions(
    pipeline
      .command('start')
      .description('start the deployed state machine (idempotent: the same input twice is one execution)')
      .addOption(new Option('--trigger <trigger>', 'what started it').choices(['manual', 'ssm-change', 'git-push', 'schedule']))
      .addOption(new Option('--mode <mode>', 'apply (default), plan, or drift').choices(['apply', 'plan', 'drift']))
      .option('--state-machine <arn>', 'the state machine (default: $KARMA_STATE_MACHINE_ARN)')
      .option('--name <name>', 'execution name (default: derived from the input)')
      .option('--region <region>', 'AWS region (default: the SDK chain)'),
  ).action(run((o, io) => pipelineStart(o, io)));
  pipeline
    .command('status')
    .description('the status of an execution of the deployed state machine')
    .argument('<execution-arn>')
    .option('-f, --follow', 'wait until it finishes')
    .option('--region <region>', 'AWS region (default: the SDK chain)')
    .option('--json', 'print only JSON on stdout')
    .action(async (execution: string, ...rest: unknown[]) => run((o, io) => pipelineStatus({ ...o, execution } as never, io))(...rest));
  pipelineOptions(program.command('drift').description('run the pipeline in drift mode: terraform plan for in-sync components, drifted ones flagged')).action(
    run((o, io) => pipelineRun({ ...o, mode: 'drift' }, io)),
  );

  // The change workflow (docs/workflow.md): propose-change → proposals → apply.
  withCommon(
    program
      .command('propose-change')
      .description("validate a component's new inputs for an environment, show the diff and impact, record a proposal (branch karma/proposals/<id>)")
      .argument('<component>')
      .argument('<env>')
      .requiredOption('-i, --input <file>', "the component's full new inputs in that environment (JSON or YAML)")
      .option('-m, --message <msg>', 'a one-line description of the change')
      .option('--dry-run', 'validate and show the diff and impact, record nothing')
      .option('--no-plan', 'record the proposal without running terraform plan (karma plan ID makes one later)')
      .option('--terraform <binary>', 'terraform, tofu or a path')
      .option('-v, --verbose', "show Terraform's whole plan text (redacted)"),
  ).action(async (name: string, env: string, ...rest: unknown[]) => run((o, io) => proposeChangeCommand({ ...o, component: name, env } as never, io))(...rest));
  withCommon(
    program
      .command('plan')
      .description("(re-)plan an open proposal at its commit and save the plan karma apply applies (expires after KARMA_PLAN_TTL, default 24h)")
      .argument('<proposal>', 'a proposal id (karma proposals)')
      .option('--terraform <binary>', 'terraform, tofu or a path')
      .option('-v, --verbose', "show Terraform's whole plan text (redacted)"),
  ).action(async (proposal: string, ...rest: unknown[]) => run((o, io) => planProposalCommand({ ...o, proposal } as never, io))(...rest));
  withCommon(program.command('proposals').description('the open proposals (id, component, env, base commit, message)')).action(run((o, io) => proposalsCommand(o, io)));
  withCommon(
    program
      .command('apply')
      .description('merge a proposal into the current branch (fast-forward, or refuse on conflict), then run the pipeline for its environment')
      .argument('[proposal]', 'a proposal id (karma proposals); without one and without --env: the one open proposal')
      .option('-e, --env <env>', 'without a proposal: run the pipeline for this environment as committed')
      .option('-y, --yes', "apply the proposal's saved plan without asking (CI; review it first); without it a terminal is needed to confirm")
      .option('--allow-destroy', 'accept a plan that destroys or replaces resources')
      .option('--include-pending', "also apply everything else pending in the proposal's environment")
      .option('-v, --verbose', "show Terraform's whole plan text and stream its output")
      .option('--max-parallel <n>', 'components applied at once (default 4)', positiveInteger)
      .option('--terraform <binary>', 'terraform, tofu or a path')
      .option('--lock-timeout <duration>', 'how long to wait for a busy environment lock: 90s, 10m, 1h (default 1h)')
      .option('--remote', 'start the deployed state machine instead of running locally (the commit must be pushed)')
      .option('--state-machine <arn>', 'with --remote: the state machine (default: $KARMA_STATE_MACHINE_ARN)')
      .option('--region <region>', 'with --remote: AWS region (default: the SDK chain)'),
  ).action(async (proposal: string | undefined, ...rest: unknown[]) => run((o, io) => applyCommand({ ...o, ...(proposal ? { proposal } : {}) }, io))(...rest));

  const lock = program.command('lock').description('environment locks: who holds which, and releasing one whose holder is gone');
  withCommon(lock.command('list').description('every environment lock with its holder (execution, pid, host), since when, until when, and whether it still runs')).action(
    run((o, io) => lockList(o, io)),
  );
  withCommon(
    lock
      .command('release')
      .description("release an environment's lock: one whose holder is dead or expired; with --force, any")
      .argument('<env>')
      .option('--force', 'release it even though its holder may still be running'),
  ).action(async (env: string, ...rest: unknown[]) => run((o, io) => lockRelease({ ...o, env } as never, io))(...rest));
  // Removed deployments (docs/cli.md): both show what they will do and need --yes or a "yes" at the terminal.
  withCommon(
    program
      .command('destroy')
      .description('terraform destroy a deployment (orphaned, or still in the config with its dependents), dependents first, then delete its runtime record')
      .argument('<component>')
      .argument('<env>')
      .option('-y, --yes', 'destroy without asking (CI); without it a terminal is needed to confirm')
      .option('--dry-run', 'show the destroy plan, destroy nothing')
      .option('--work-dir <dir>', 'Terraform working directories (default: <store>/work)')
      .option('--terraform <binary>', 'terraform, tofu or a path (default: $KARMA_TERRAFORM, karma.yaml, then PATH)')
      .option('-v, --verbose', "stream Terraform's output to stderr"),
  ).action(async (name: string, env: string, ...rest: unknown[]) => run((o, io) => destroyCommand({ ...o, component: name, env } as never, io))(...rest));
  withCommon(
    program
      .command('forget')
      .description('delete the runtime record (state and outputs) of a deployment removed from the config, without destroying its resources')
      .argument('<component>')
      .argument('<env>')
      .option('-y, --yes', 'forget without asking (CI)'),
  ).action(async (name: string, env: string, ...rest: unknown[]) => run((o, io) => forgetCommand({ ...o, component: name, env } as never, io))(...rest));

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      // `karma graph` without a subcommand: the help goes to stderr and it is a usage error, not a success.
      if (error.code === 'commander.help') return error.exitCode === 0 ? 0 : EXIT_INVALID;
      return EXIT_INVALID;
    }
    return reportError(error, io, json);
  }
  return exitCode;
}
