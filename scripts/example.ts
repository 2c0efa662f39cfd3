/**
 * `npm run example`: Karma's main job on the bundled example with the embedded local backend. The first run
 * seeds the example's local store with a recorded history of applies (examples/acme-platform/runtime-seed.yaml),
 * so the statuses are varied; every run then builds the graph, writes it to the store (only what changed),
 * and prints the statuses and the waves.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../lib/cli/main.ts';

const example = join(import.meta.dirname, '..', 'examples', 'acme-platform');
const store = join(example, '.karma', 'karma.db');

if (!existsSync(store)) {
  const code = await main(['runtime', 'record', join(example, 'runtime-seed.yaml'), '--config', example]);
  if (code !== 0) process.exit(code);
}
process.exitCode = await main(['graph', 'build', '--config', example, ...process.argv.slice(2)]);
