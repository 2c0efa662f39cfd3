#!/usr/bin/env node
/*
 * The `karma` command. Written in syntax any Node.js parses, and importing nothing statically, so that on an old
 * Node it prints one line instead of a stack trace: Karma needs Node.js 22.13+ (node:sqlite without a flag) or 24.
 * Exit code 1 then (docs/cli.md: an operational failure, the environment cannot run Karma).
 */
/* eslint-disable no-var -- old-Node syntax on purpose: this file must parse before the version check runs */
var version = process.versions.node.split('.');
var major = Number(version[0]);
var minor = Number(version[1]);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write('karma: Node.js 22.13 or later (22 or 24 LTS) is required; this is ' + process.version + '. Install a current LTS from https://nodejs.org and run karma again.\n');
  process.exit(1);
} else {
  // Node 22 flags node:sqlite (the local store) as experimental on every run: hide that warning only.
  var emitWarning = process.emitWarning;
  process.emitWarning = function (warning: string | Error) {
    var message = typeof warning === 'string' ? warning : warning.message;
    var options: unknown = arguments[1];
    var type = typeof options === 'string' ? options : options && (options as { type?: string }).type;
    if (type === 'ExperimentalWarning' && /^SQLite is an experimental feature/.test(message)) return;
    // eslint-disable-next-line prefer-rest-params -- old-Node syntax
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
