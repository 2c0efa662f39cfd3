#!/usr/bin/env node
/*
 * The `karma` command. Written in syntax any Node.js since 12 parses (ES5 and one dynamic import()) and importing
 * nothing statically, so that on an old Node it prints one line instead of a stack trace. Karma needs Node.js 22.16+
 * or 24+: the local store uses node:sqlite without a flag (22.13) and its StatementSync.setReturnArrays and the
 * DatabaseSync timeout option (22.16; Node 23 got them late, and is not an LTS). Exit code 1 then (docs/cli.md:
 * the machine cannot run Karma; the command line was fine).
 */
/* eslint-disable no-var, prefer-rest-params -- old-Node syntax on purpose: this file must parse before the version check runs */
var version = process.versions.node.split('.');
var major = Number(version[0]);
var minor = Number(version[1]);
if (!((major === 22 && minor >= 16) || major >= 24)) {
  process.stderr.write('karma: Node.js 22.16+ or 24+ (an LTS) is required; this is ' + process.version + '. Install a current LTS from https://nodejs.org and run karma again.\n');
  process.exit(1);
} else {
  // V8's code cache on disk (in the OS temp folder; NODE_DISABLE_COMPILE_CACHE=1 turns it off): the second and
  // later runs skip compiling the CLI and its dependencies, which is most of a short command's start-up.
  var nodeModule = process.getBuiltinModule ? process.getBuiltinModule('node:module') : undefined;
  if (nodeModule && nodeModule.enableCompileCache) nodeModule.enableCompileCache();
  // Node 22 flags node:sqlite (the local store) as experimental on every run: hide that warning only.
  var emitWarning = process.emitWarning;
  process.emitWarning = function (warning: string | Error) {
    var message = typeof warning === 'string' ? warning : warning.message;
    var options: unknown = arguments[1];
    var type = typeof options === 'string' ? options : options && (options as { type?: string }).type;
    if (type === 'ExperimentalWarning' && /^SQLite is an experimental feature/.test(message)) return;
    return (emitWarning as (...args: unknown[]) => void).apply(process, arguments as unknown as unknown[]);
  } as typeof process.emitWarning;
  import('../lib/cli/main.ts').then(
    function (cli) {
      return cli.main(process.argv.slice(2)).then(function (code) {
        process.exitCode = code;
      });
    },
    function (error: Error) {
      process.stderr.write('karma: could not start: ' + error.message + '\n');
      process.exitCode = 1;
    },
  );
}
