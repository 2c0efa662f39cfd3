/**
 * The `karma` command line: argument parsing only. Commands live in lib/cli/commands as plain functions.
 * One error boundary maps every error to the documented exit code (docs/cli.md):
 *   0 success · 1 operational failure · 2 invalid input or usage
 * With --json, stdout carries only JSON: the result, or {"error":{"name","message",...}}.
 *
 * Start-up: every command module is imported inside its action (`await import('./commands/x.ts')`), so
 * `karma --version`, `--help` and a typo load commander and nothing else; the AWS SDK, gremlin and the local Step
 * Functions interpreter load only in the commands that use them (bench/startup.ts measures it).
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { EXIT_INVALID, EXIT_OPERATIONAL, KarmaError, UsageError } from '../core/errors.ts';
import type { CommonOptions } from './context.ts';
import type { PipelineRunOptions } from './commands/pipeline.ts';
import type { ApiClient } from './api-client.ts';
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

/** A count that may be 0 (digits only), else commander's one-line usage error, exit 2. */
function nonNegativeInteger(value: string): number {
  if (!/^\d{1,9}$/.test(value.trim())) throw new InvalidArgumentError('It must be a whole number (0, 1, 2...).');
  return Number(value.trim());
}

/**
 * What commander parsed for one command: its declared arguments in order, and its options merged with the
 * program's. The readers below turn them into each command's typed options; a value of the wrong type (which
 * commander's declarations rule out) reads as absent.
 */
interface Parsed {
  readonly args: readonly unknown[];
  readonly opts: Readonly<Record<string, unknown>>;
}

function text(p: Parsed, key: string): string | undefined {
  const v = p.opts[key];
  return typeof v === 'string' ? v : undefined;
}
function flag(p: Parsed, key: string): boolean | undefined {
  const v = p.opts[key];
  return typeof v === 'boolean' ? v : undefined;
}
function integer(p: Parsed, key: string): number | undefined {
  const v = p.opts[key];
  return typeof v === 'number' ? v : undefined;
}
function texts(p: Parsed, key: string): string[] | undefined {
  const v = p.opts[key];
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
}
function choice<T extends string>(p: Parsed, key: string, choices: readonly T[]): T | undefined {
  const v = text(p, key);
  return choices.find((c) => c === v);
}
/** The i-th declared argument; commander has already refused a missing required one. */
function arg(p: Parsed, i: number): string {
  const v = p.args[i];
  if (typeof v !== 'string') throw new UsageError(`missing argument ${i + 1}`);
  return v;
}
/** A required option's value; the preAction check (checkMandatoryAfterUnknown) has already refused a missing one. */
function requiredText(p: Parsed, key: string, flag: string): string {
  const v = text(p, key);
  if (v === undefined) throw new UsageError(`required option '${flag}' not specified`);
  return v;
}
function optionalArg(p: Parsed, i: number): string | undefined {
  const v = p.args[i];
  return typeof v === 'string' ? v : undefined;
}
const BACKENDS = ['local', 'aws'] as const;
const TRIGGERS = ['manual', 'ssm-change', 'git-push', 'schedule'] as const;
const MODES = ['apply', 'plan', 'drift'] as const;
const FORMATS = ['table', 'json', 'dot', 'mermaid', 'picture'] as const;
const PARAMETER_TYPES = ['String', 'StringList', 'SecureString'] as const;

function common(p: Parsed): CommonOptions {
  return { config: text(p, 'config'), ref: text(p, 'ref'), backend: choice(p, 'backend', BACKENDS), store: text(p, 'store'), json: flag(p, 'json') };
}

function pipelineRunOptions(p: Parsed): PipelineRunOptions {
  return {
    ...common(p),
    env: text(p, 'env'),
    trigger: choice(p, 'trigger', TRIGGERS),
    mode: choice(p, 'mode', MODES),
    component: texts(p, 'component'),
    commit: text(p, 'commit'),
    maxParallel: integer(p, 'maxParallel'),
    terraform: text(p, 'terraform'),
    lockTimeout: text(p, 'lockTimeout'),
  };
}

/**
 * Commander checks mandatory options before unknown ones, so `graph order --evn x` said "required option
 * --env" instead of "unknown option '--evn' (did you mean --env?)". Mandatory options are checked here instead,
 * in a preAction hook, which runs after commander has refused unknown options.
 */
function checkMandatoryAfterUnknown(command: Command): void {
  const mandatory = command.options.filter((o) => o.mandatory);
  for (const option of mandatory) option.makeOptionMandatory(false);
  if (mandatory.length > 0) {
    command.hook('preAction', (self) => {
      for (const option of mandatory) {
        if (self.getOptionValue(option.attributeName()) === undefined) {
          self.error(`error: required option '${option.flags}' not specified`, { code: 'commander.missingMandatoryOptionValue', exitCode: EXIT_INVALID });
        }
      }
    });
  }
  for (const sub of command.commands) checkMandatoryAfterUnknown(sub);
}

/**
 * `karma help graph order` → `karma graph order --help` (commander's help command reads only one word). Words that
 * are not a command path are parsed as the command itself, so `karma help grpah` gets commander's "unknown command
 * 'grpah' (did you mean graph?)".
 */
function helpArguments(program: Command, argv: readonly string[]): string[] {
  const words = argv.slice(1);
  if (argv[0] !== 'help' || words.length === 0 || words.some((w) => w.startsWith('-'))) return [...argv];
  let command: Command | undefined = program;
  for (const word of words) command = command?.commands.find((c) => c.name() === word || c.aliases().includes(word));
  return command ? [...words, '--help'] : words;
}

/** A command's run against a Karma API (`--api URL`): lib/cli/commands/remote.ts, with the client for the URL. */
type RemoteHandler = (remote: typeof import('./commands/remote.ts'), api: ApiClient, p: Parsed, io: IO) => Promise<number>;

/**
 * Options that choose what a local run reads, writes or runs: with --api the server has its own config, stores and
 * Terraform, so each is refused (one line, exit 2) rather than silently ignored.
 */
const LOCAL_ONLY: Readonly<Record<string, string>> = {
  config: '--config',
  ref: '--ref',
  backend: '--backend',
  store: '--store',
  terraform: '--terraform',
  workDir: '--work-dir',
  verbose: '--verbose',
  maxParallel: '--max-parallel',
  lockTimeout: '--lock-timeout',
  remote: '--remote',
  stateMachine: '--state-machine',
};

/** `graph order`, `component apply`: the command's words after `karma`. */
function commandPath(command: Command): string {
  const words: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) words.unshift(c.name());
  return words.join(' ');
}

/**
 * The API to call: --api, else $KARMA_API_URL (empty is unset) unless the command never reads a config
 * (`ignoresEnv`: init, completion, serve, token create), so a shell set up for the API can still run those.
 */
function apiUrlOf(p: Parsed, ignoresEnv: boolean): string | undefined {
  const given = text(p, 'api');
  if (given !== undefined) return given;
  const env = process.env['KARMA_API_URL'];
  return env && !ignoresEnv ? env : undefined;
}

async function runRemote(command: Command, p: Parsed, io: IO, url: string, remote: RemoteHandler | 'local' | undefined): Promise<number> {
  const name = commandPath(command);
  if (remote === undefined || remote === 'local') throw new UsageError(`karma ${name} has no API route; run it where the config is (without --api${process.env['KARMA_API_URL'] ? ' and $KARMA_API_URL' : ''})`);
  for (const [key, flagName] of Object.entries(LOCAL_ONLY)) {
    if (p.opts[key] !== undefined) throw new UsageError(`karma ${name} --api: ${flagName} is for a run where the config is; the API's server uses its own config, stores and Terraform`);
  }
  const { openApiClient } = await import('./api-client.ts');
  const api = await openApiClient(url, { ...(text(p, 'region') !== undefined ? { region: text(p, 'region')! } : {}) });
  return remote(await import('./commands/remote.ts'), api, p, io);
}

/** The `karma` program: every command, option and description, with the actions that run them. */
export function buildProgram(argv: readonly string[], io: IO, done: (exitCode: number) => void): Command {
  const json = wantsJson(argv);
  /**
   * A command's action: `handler` runs it here; with --api (or $KARMA_API_URL) `remote` runs it against the API,
   * and a command without one ('local' or none) refuses with one line, exit 2.
   */
  const action =
    (handler: (p: Parsed, io: IO) => Promise<number>, remote?: RemoteHandler | 'local') =>
    async (...callbackArgs: unknown[]): Promise<void> => {
      const command = callbackArgs[callbackArgs.length - 1];
      if (!(command instanceof Command)) throw new TypeError('commander called an action without its command');
      try {
        const parsed: Parsed = { args: command.processedArgs, opts: command.optsWithGlobals() };
        const url = apiUrlOf(parsed, remote === 'local');
        done(url === undefined ? await handler(parsed, io) : await runRemote(command, parsed, io, url, remote));
      } catch (error) {
        done(reportError(error, io, json));
      }
    };
  const graphCommands = () => import('./commands/graph.ts');
  const runtimeCommands = () => import('./commands/runtime.ts');
  const pipelineCommands = () => import('./commands/pipeline.ts');
  const changeCommands = () => import('./commands/change.ts');
  const lockCommands = () => import('./commands/lock.ts');
  const destroyCommands = () => import('./commands/destroy.ts');

  const withCommon = (c: Command): Command =>
    c
      .option('-c, --config <dir|url>', 'config repo: a directory or a Git URL (default: $KARMA_CONFIG or .)')
      .option('--ref <ref>', 'read the config from Git at this branch, tag or commit')
      .addOption(new Option('--backend <type>', 'runtime and graph backend (default: karma.yaml backend.type)').choices(BACKENDS))
      .option('--store <dir>', 'local store folder (default: karma.yaml backend.path, else .karma in the config repo)')
      .option('--json', 'print only JSON on stdout');

  const program = new Command('karma')
    .description('A live dependency graph of Terraform components across environments, with ordered applies.')
    .version(packageJson.version)
    .option('--api <url>', 'run the command against a Karma API (karma serve, or the deployed one) instead of a config here; default $KARMA_API_URL (docs/cli.md, "Calling a Karma API")')
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

  program
    .command('init')
    .description('scaffold a config repo (karma.yaml, one component with a Terraform module, one environment) in DIR')
    .argument('[dir]', 'where to create it (default: the current directory)')
    .option('--project <name>', 'the project name (default: the directory name)')
    .option('--env <name>', 'the environment (default: dev)')
    .action(action(async (p, io) => (await import('./commands/init.ts')).initCommand({ dir: optionalArg(p, 0) ?? '.', project: text(p, 'project'), env: text(p, 'env') }, io), 'local'));
  program
    .command('completion')
    .description('print a shell completion script: karma completion bash >> ~/.bashrc (see docs/cli.md for zsh and fish)')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
    .action(action(async (p, io) => (await import('./commands/completion.ts')).completionCommand(program, arg(p, 0), io), 'local'));

  const graph = program.command('graph').description('build, inspect and order the dependency graph');
  withCommon(graph.command('build').description('build the graph from config + runtime, write it to the store, print statuses and waves')).action(
    action(async (p, io) => (await graphCommands()).graphBuild(common(p), io)),
  );
  withCommon(graph.command('validate').description('check the config repo; exit 2 with one line per problem')).action(
    action(async (p, io) => (await graphCommands()).graphValidate(common(p), io)),
  );
  withCommon(
    graph
      .command('order')
      .description('apply waves, per environment (by default only what needs an apply)')
      .option('-e, --env <env>', 'only this environment (default: every environment, in the order a run applies them)')
      .option('--all', 'every component, not only those that need an apply')
      .option('--destroy', 'reverse order, for destroying'),
  ).action(
    action(
      async (p, io) => (await graphCommands()).graphOrder({ ...common(p), env: text(p, 'env'), all: flag(p, 'all'), destroy: flag(p, 'destroy') }, io),
      (r, api, p, io) => r.remoteGraphOrder(api, { json: flag(p, 'json'), env: text(p, 'env'), all: flag(p, 'all'), destroy: flag(p, 'destroy') }, io),
    ),
  );
  withCommon(
    graph
      .command('impact')
      .description('what follows if COMPONENT (or one of its outputs) changes: the downstream closure as waves')
      .argument('<component>')
      .argument('<env>')
      .option('-o, --output <name>', 'start from the consumers of this output'),
  ).action(
    action(
      async (p, io) => (await graphCommands()).graphImpact({ ...common(p), component: arg(p, 0), env: arg(p, 1), output: text(p, 'output') }, io),
      (r, api, p, io) => r.remoteGraphImpact(api, { json: flag(p, 'json'), component: arg(p, 0), env: arg(p, 1), output: text(p, 'output') }, io),
    ),
  );
  withCommon(
    graph
      .command('show')
      .description('the live graph')
      .option('-e, --env <env>', 'only this environment')
      .option('--component <name>', "with --env: only this component's neighbourhood")
      .option('--depth <n>', 'with --component: dependency hops up and down (default 1, at most 10)', nonNegativeInteger)
      .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS)),
  ).action(
    action(
      async (p, io) =>
        (await graphCommands()).graphShow({ ...common(p), env: text(p, 'env'), component: text(p, 'component'), depth: integer(p, 'depth'), format: choice(p, 'format', FORMATS) }, io),
      (r, api, p, io) => r.remoteGraphShow(api, { json: flag(p, 'json'), env: text(p, 'env'), component: text(p, 'component'), depth: integer(p, 'depth'), format: choice(p, 'format', FORMATS) }, io),
    ),
  );
  withCommon(graph.command('diff').description('what changed between two stored builds (default: the last two)').argument('[build-a]').argument('[build-b]')).action(
    action(async (p, io) => (await graphCommands()).graphDiff({ ...common(p), from: optionalArg(p, 0), to: optionalArg(p, 1) }, io)),
  );
  withCommon(graph.command('history').description('stored builds, newest first').option('-n, --limit <n>', 'how many (default 20)', positiveInteger)).action(
    action(async (p, io) => (await graphCommands()).graphHistory({ ...common(p), limit: integer(p, 'limit') }, io)),
  );
  withCommon(graph.command('why').description('the chain of reasons behind a status').argument('<component>').argument('<env>')).action(
    action(
      async (p, io) => (await graphCommands()).graphWhy({ ...common(p), component: arg(p, 0), env: arg(p, 1) }, io),
      (r, api, p, io) => r.remoteGraphWhy(api, { json: flag(p, 'json'), component: arg(p, 0), env: arg(p, 1) }, io),
    ),
  );

  const runtime = program.command('runtime').description('inspect and adopt runtime state (outputs, apply records, parameters)');
  withCommon(runtime.command('record').description('record applies made outside Karma (adoption, demos) from a JSON/YAML file').argument('<file>')).action(
    action(async (p, io) => (await runtimeCommands()).runtimeRecord({ ...common(p), file: arg(p, 0) }, io)),
  );
  withCommon(
    runtime
      .command('put')
      .description('set a parameter, as a change made outside Karma')
      .argument('<name>')
      .argument('<value>', 'the value, or - to read it from standard input (keeps a secret out of shell history and process lists)')
      .addOption(new Option('-t, --type <type>', 'parameter type').choices(PARAMETER_TYPES)),
  ).action(
    action(async (p, io) => (await runtimeCommands()).runtimePut({ ...common(p), name: arg(p, 0), value: arg(p, 1), type: choice(p, 'type', PARAMETER_TYPES) }, io)),
  );
  withCommon(runtime.command('list').description('parameters under the prefix, with versions').option('-e, --env <env>', 'only this environment')).action(
    action(async (p, io) => (await runtimeCommands()).runtimeList({ ...common(p), env: text(p, 'env') }, io)),
  );

  const component = program.command('component').description('the Terraform work of one component (what CodeBuild runs)');
  for (const mode of MODES) {
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
    ).action(
      action(async (p, io) =>
        (await import('./commands/component.ts')).componentRun(
          {
            ...common(p),
            component: arg(p, 0),
            env: arg(p, 1),
            mode,
            commit: text(p, 'commit'),
            workDir: text(p, 'workDir'),
            terraform: text(p, 'terraform'),
            verbose: flag(p, 'verbose'),
            stateMoved: flag(p, 'stateMoved'),
          },
          io,
        ),
      ),
    );
  }

  withCommon(component.command('show').description('one deployment: status, why, inputs (secrets as references), outputs and their consumers, last apply').argument('<component>').argument('<env>')).action(
    action(
      async (p, io) => (await graphCommands()).componentShow({ ...common(p), component: arg(p, 0), env: arg(p, 1) }, io),
      (r, api, p, io) => r.remoteComponentShow(api, { json: flag(p, 'json'), component: arg(p, 0), env: arg(p, 1) }, io),
    ),
  );

  const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
  const triggerOption = (): Option => new Option('--trigger <trigger>', 'what started it').choices(TRIGGERS);
  const modeOption = (): Option => new Option('--mode <mode>', 'apply (default), plan, or drift').choices(MODES);
  /** The options of a local run; `drift` says what --commit and --max-parallel mean when nothing is applied. */
  const pipelineOptions = (c: Command, drift = false): Command =>
    withCommon(
      c
        .option('-e, --env <env>', 'one environment (default: every environment, shared ones first)')
        .option('--component <name>', 'only this component (repeatable)', collect)
        .option(
          '--commit <sha>',
          drift
            ? "the config commit whose Terraform is compared with the real resources (default: --ref, else the working tree)"
            : 'the config commit to apply (default: --ref, else the working tree)',
        )
        .option('--max-parallel <n>', drift ? 'drift checks (terraform plan) run at once (default 4)' : 'components applied at once (default 4)', positiveInteger)
        .option('--terraform <binary>', 'terraform, tofu or a path')
        .option('--lock-timeout <duration>', 'how long to wait for a busy environment lock: 90s, 10m, 1h (default 1h)'),
    );
  const pipeline = program.command('pipeline').description('the orchestration pipeline (statemachines/pipeline.asl.json)');
  pipelineOptions(
    pipeline
      .command('run')
      .description('execute the pipeline locally from the same ASL file: build, plan, apply wave by wave, re-planning after each')
      .addOption(triggerOption())
      .addOption(modeOption()),
  ).action(action(async (p, io) => (await pipelineCommands()).pipelineRun(pipelineRunOptions(p), io)));
  // The deployed state machine reads the config from Git and runs Terraform in CodeBuild: only the execution
  // input (what to run) and where the state machine is are options here.
  pipeline
    .command('start')
    .description('start the deployed state machine (idempotent: the same input twice is one execution)')
    .option('-e, --env <env>', 'one environment (default: every environment, shared ones first)')
    .option('--component <name>', 'only this component (repeatable)', collect)
    .option('--ref <ref>', 'the branch, tag or commit the deployed pipeline reads the config at')
    .option('--commit <sha>', 'the config commit to apply (default: --ref, else the branch the stack is set up with)')
    .option('--lock-timeout <duration>', 'how long to wait for a busy environment lock: 90s, 10m, 1h (default 1h)')
    .addOption(triggerOption())
    .addOption(modeOption())
    .option('--state-machine <arn>', 'the state machine (default: $KARMA_STATE_MACHINE_ARN)')
    .option('--name <name>', 'execution name (default: derived from the input)')
    .option('--region <region>', "AWS region (default: the state machine ARN's)")
    .option('--json', 'print only JSON on stdout')
    .action(
      action(async (p, io) =>
        (await pipelineCommands()).pipelineStart(
          {
            json: flag(p, 'json'),
            ref: text(p, 'ref'),
            env: text(p, 'env'),
            component: texts(p, 'component'),
            commit: text(p, 'commit'),
            lockTimeout: text(p, 'lockTimeout'),
            trigger: choice(p, 'trigger', TRIGGERS),
            mode: choice(p, 'mode', MODES),
            stateMachine: text(p, 'stateMachine'),
            name: text(p, 'name'),
            region: text(p, 'region'),
          },
          io,
        ),
      ),
    );
  pipeline
    .command('status')
    .description('the status of an execution of the deployed state machine')
    .argument('<execution-arn>')
    .option('-f, --follow', 'wait until it finishes')
    .option('--region <region>', "AWS region (default: the execution ARN's); with --api: the region to sign for")
    .option('--json', 'print only JSON on stdout')
    .action(
      action(
        async (p, io) => (await pipelineCommands()).pipelineStatus({ execution: arg(p, 0), follow: flag(p, 'follow'), region: text(p, 'region'), json: flag(p, 'json') }, io),
        (r, api, p, io) => r.remotePipelineStatus(api, { execution: arg(p, 0), follow: flag(p, 'follow'), json: flag(p, 'json') }, io),
      ),
    );
  pipelineOptions(program.command('drift').description('run the pipeline in drift mode: terraform plan for in-sync components, drifted ones flagged'), true).action(
    action(async (p, io) => (await pipelineCommands()).pipelineRun({ ...pipelineRunOptions(p), mode: 'drift' }, io)),
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
  ).action(
    action(async (p, io) =>
      (await changeCommands()).proposeChangeCommand(
        {
          ...common(p),
          component: arg(p, 0),
          env: arg(p, 1),
          input: requiredText(p, 'input', '-i, --input <file>'),
          message: text(p, 'message'),
          dryRun: flag(p, 'dryRun'),
          plan: flag(p, 'plan'),
          terraform: text(p, 'terraform'),
          verbose: flag(p, 'verbose'),
        },
        io,
      ),
      (r, api, p, io) =>
        r.remoteProposeChange(
          api,
          {
            json: flag(p, 'json'),
            component: arg(p, 0),
            env: arg(p, 1),
            input: requiredText(p, 'input', '-i, --input <file>'),
            message: text(p, 'message'),
            dryRun: flag(p, 'dryRun'),
            plan: flag(p, 'plan'),
          },
          io,
        ),
    ),
  );
  withCommon(
    program
      .command('plan')
      .description('(re-)plan an open proposal at its commit and save the plan karma apply applies (expires after KARMA_PLAN_TTL, default 24h)')
      .argument('<proposal>', 'a proposal id (karma proposals)')
      .option('--terraform <binary>', 'terraform, tofu or a path')
      .option('-v, --verbose', "show Terraform's whole plan text (redacted)"),
  ).action(
    action(async (p, io) =>
      (await changeCommands()).planProposalCommand({ ...common(p), proposal: arg(p, 0), terraform: text(p, 'terraform'), verbose: flag(p, 'verbose') }, io),
    ),
  );
  withCommon(program.command('proposals').description('the open proposals (id, component, env, base commit, message)')).action(
    action(
      async (p, io) => (await changeCommands()).proposalsCommand(common(p), io),
      (r, api, p, io) => r.remoteProposals(api, { json: flag(p, 'json') }, io),
    ),
  );
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
      .option('--region <region>', "with --remote: AWS region (default: the state machine ARN's); with --api: the region to sign for"),
  ).action(
    action(async (p, io) =>
      (await changeCommands()).applyCommand(
        {
          ...common(p),
          proposal: optionalArg(p, 0),
          env: text(p, 'env'),
          yes: flag(p, 'yes'),
          allowDestroy: flag(p, 'allowDestroy'),
          includePending: flag(p, 'includePending'),
          verbose: flag(p, 'verbose'),
          maxParallel: integer(p, 'maxParallel'),
          terraform: text(p, 'terraform'),
          lockTimeout: text(p, 'lockTimeout'),
          remote: flag(p, 'remote'),
          stateMachine: text(p, 'stateMachine'),
          region: text(p, 'region'),
        },
        io,
      ),
      (r, api, p, io) =>
        r.remoteApply(
          api,
          { json: flag(p, 'json'), proposal: optionalArg(p, 0), env: text(p, 'env'), yes: flag(p, 'yes'), allowDestroy: flag(p, 'allowDestroy'), includePending: flag(p, 'includePending') },
          io,
        ),
    ),
  );

  const lock = program.command('lock').description('environment locks: who holds which, and releasing one whose holder is gone');
  withCommon(lock.command('list').description('every environment lock with its holder (execution, pid, host), since when, until when, and whether it still runs')).action(
    action(async (p, io) => (await lockCommands()).lockList(common(p), io)),
  );
  withCommon(
    lock
      .command('release')
      .description("release an environment's lock: one whose holder is dead or expired; with --force, any")
      .argument('<env>')
      .option('--force', 'release it even though its holder may still be running'),
  ).action(action(async (p, io) => (await lockCommands()).lockRelease({ ...common(p), env: arg(p, 0), force: flag(p, 'force') }, io)));
  withCommon(
    program
      .command('audit')
      .description('the audit log: every change request and apply (who, when, what, result), newest first, one page at a time')
      .option('--change <id>', "only this change's entries")
      .option('-n, --limit <n>', 'entries per page, 1 to 200 (default 50)', positiveInteger)
      .option('--after <cursor>', 'the page after this cursor (printed after a page: more: karma audit --after ...)'),
  ).action(
    action(
      async (p, io) => (await import('./commands/audit.ts')).auditCommand({ ...common(p), change: text(p, 'change'), limit: integer(p, 'limit'), after: text(p, 'after') }, io),
      (r, api, p, io) => r.remoteAudit(api, { json: flag(p, 'json'), change: text(p, 'change'), limit: integer(p, 'limit'), after: text(p, 'after') }, io),
    ),
  );
  // Rollouts (docs/rollouts.md): the service's, so only with --api (or $KARMA_API_URL).
  const rolloutCommands = () => import('./commands/rollout.ts');
  const rollout = program
    .command('rollout')
    .description('apply a component\'s new inputs to several environments in order, through a running karma serve (--api): one change per environment, each after the one before succeeded')
    .argument('<component>')
    // Checked in the action, not with requiredOption: commander's mandatory check would also refuse `rollout show`.
    .option('-i, --input <file>', "required: the component's full new inputs (JSON or YAML), the same in every environment")
    .option('-e, --env <env>', 'an environment, in the order to apply (repeatable, 1 to 10)', collect)
    .addOption(new Option('--approval <mode>', 'auto (default): each step after the one before succeeded; manual: each step after the first waits for karma rollout approve').choices(['auto', 'manual']))
    .option('-m, --message <msg>', 'a one-line description of the change')
    .option('--wait', 'follow the rollout until it ends, printing step transitions (exit 0 succeeded, 1 failed)')
    .option('--json', 'print only JSON on stdout');
  rollout.action(
    action(
      async () => (await rolloutCommands()).rolloutNeedsApi(),
      async (_r, api, p, io) =>
        (await rolloutCommands()).rolloutCreate(
          api,
          {
            component: arg(p, 0),
            input: requiredText(p, 'input', '-i, --input <file>'),
            envs: texts(p, 'env') ?? [],
            approval: choice(p, 'approval', ['auto', 'manual'] as const),
            message: text(p, 'message'),
            wait: flag(p, 'wait'),
            json: flag(p, 'json'),
          },
          io,
        ),
    ),
  );
  rollout
    .command('show')
    .description('a rollout: its status and each step (exit 1 when it failed)')
    .argument('<id>')
    .option('--json', 'print only JSON on stdout')
    .action(
      action(
        async () => (await rolloutCommands()).rolloutNeedsApi(),
        async (_r, api, p, io) => (await rolloutCommands()).rolloutShow(api, { id: arg(p, 0), json: flag(p, 'json') }, io),
      ),
    );
  rollout
    .command('approve')
    .description('approve the step of a manual rollout that waits for it (its plan is made: review it first)')
    .argument('<id>')
    .option('--json', 'print only JSON on stdout')
    .action(
      action(
        async () => (await rolloutCommands()).rolloutNeedsApi(),
        async (_r, api, p, io) => (await rolloutCommands()).rolloutApprove(api, { id: arg(p, 0), json: flag(p, 'json') }, io),
      ),
    );
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
  ).action(
    action(async (p, io) =>
      (await destroyCommands()).destroyCommand(
        {
          ...common(p),
          component: arg(p, 0),
          env: arg(p, 1),
          yes: flag(p, 'yes'),
          dryRun: flag(p, 'dryRun'),
          workDir: text(p, 'workDir'),
          terraform: text(p, 'terraform'),
          verbose: flag(p, 'verbose'),
        },
        io,
      ),
    ),
  );
  withCommon(
    program
      .command('forget')
      .description('delete the runtime record (state and outputs) of a deployment removed from the config, without destroying its resources')
      .argument('<component>')
      .argument('<env>')
      .option('-y, --yes', 'forget without asking (CI)'),
  ).action(action(async (p, io) => (await destroyCommands()).forgetCommand({ ...common(p), component: arg(p, 0), env: arg(p, 1), yes: flag(p, 'yes') }, io)));

  // The HTTP API (docs/api.md) and the long-running service (docs/service.md).
  const serveCommands = () => import('./commands/serve.ts');
  withCommon(
    program
      .command('serve')
      .description('run the service: the HTTP API (docs/api.md) over a live graph, the change queue, rollouts and notifications (docs/service.md); 127.0.0.1 unless --host')
      .option('-p, --port <n>', 'port (default 7070)', positiveInteger)
      .option('--host <host>', 'address to bind (default 127.0.0.1; any other needs tokens configured)')
      .option('--tokens <file>', 'tokens file (karma token create; default $KARMA_API_TOKENS_FILE)')
      .option('--poll-interval <ms>', 'how often the runtime changes are read (default 250)', positiveInteger)
      .option('--sync-interval <seconds>', 'how often a changed graph is written to the graph store (default 30; 0: only at stop)', nonNegativeInteger)
      .option('--fetch-interval <seconds>', 'a Git URL config: how often it is fetched (default 60; 0: only on a signed push to /webhooks/git)', nonNegativeInteger)
      .option('--stop-timeout <seconds>', 'at SIGTERM, how long a running apply may take to finish before it is handed back to the queue (default 60)', nonNegativeInteger)
      .addOption(new Option('--log-level <level>', 'the JSON log on stderr (default info)').choices(['debug', 'info', 'warn', 'error'])),
  ).action(
    action(
      async (p, io) =>
        (await serveCommands()).serveCommand(
          {
            ...common(p),
            port: integer(p, 'port'),
            host: text(p, 'host'),
            tokens: text(p, 'tokens'),
            pollMs: integer(p, 'pollInterval'),
            syncSeconds: integer(p, 'syncInterval'),
            fetchSeconds: integer(p, 'fetchInterval'),
            stopTimeoutSeconds: integer(p, 'stopTimeout'),
            logLevel: choice(p, 'logLevel', ['debug', 'info', 'warn', 'error'] as const),
          },
          io,
        ),
      'local',
    ),
  );
  const token = program.command('token').description('bearer tokens for karma serve');
  token
    .command('create')
    .description('make a token with roles (read, propose, apply; each includes the ones before it): its hash goes to the tokens file, the token is printed once')
    .argument('<name>', 'who or what uses it (recorded in the audit log)')
    .addOption(new Option('-r, --role <role>', 'read (default), propose or apply').choices(['read', 'propose', 'apply']))
    .requiredOption('--tokens <file>', 'the tokens file karma serve --tokens reads (created 0600)')
    .option('--json', 'print only JSON on stdout')
    .action(
      action(async (p, io) =>
        (await serveCommands()).tokenCreate(
          { name: arg(p, 0), roles: [choice(p, 'role', ['read', 'propose', 'apply'] as const) ?? 'read'], tokens: requiredText(p, 'tokens', '--tokens <file>'), json: flag(p, 'json') },
          io,
        ),
        'local',
      ),
    );

  checkMandatoryAfterUnknown(program);
  return program;
}

export async function main(argv: readonly string[], io: IO = processIO()): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(argv, io, (code) => (exitCode = code));
  try {
    await program.parseAsync(helpArguments(program, argv), { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      // `karma graph` without a subcommand: the help goes to stderr and it is a usage error, not a success.
      if (error.code === 'commander.help') return error.exitCode === 0 ? 0 : EXIT_INVALID;
      return EXIT_INVALID;
    }
    return reportError(error, io, wantsJson(argv));
  }
  return exitCode;
}

function wantsJson(argv: readonly string[]): boolean {
  return argv.includes('--json');
}
