/**
 * `npm test` after typecheck and lint: every vitest project. With KARMA_TEST_SUMMARY=FILE, also a JSON
 * report there (CI prints its "N passed, N failed" line from it).
 */
import { spawnSync } from 'node:child_process';

const args = ['vitest', 'run', ...process.argv.slice(2)];
const summary = process.env['KARMA_TEST_SUMMARY'];
if (summary) args.push('--reporter=default', '--reporter=json', `--outputFile.json=${summary}`);
const result = spawnSync('npx', args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
