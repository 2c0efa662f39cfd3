/**
 * Cycle detection over deployments, for the config check (parseConfig). The algorithm is the DAG index's
 * (lib/core/dag.ts: Tarjan's strongly connected components in key order, then the shortest cycle through the
 * smallest key of each): `[a, b, c, a]` reads "a depends on b, which depends on c, which depends on a".
 */
import { indexDeployments } from './dag.ts';
import type { Deployment } from './model.ts';

/** Every dependency cycle among `deployments`, as `env/component` keys from the smallest key back to it. */
export function findCycles(deployments: readonly Deployment[]): string[][] {
  return indexDeployments(deployments).cycles();
}
