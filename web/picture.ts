/** Reading a picture (GET /graph?format=picture): one environment's own components, their statuses, its size. */
import type { Picture } from '../lib/api/types.ts';

type Node = Picture['envs'][number]['nodes'][number];

/** The components of `env` in the picture, without those of other environments drawn beside them. */
export function componentsIn(picture: Picture | undefined, env: string): Node[] {
  return (picture?.envs.find((g) => g.env === env)?.nodes ?? []).filter((n) => !n.otherEnv);
}

/** Each component of `env` with its status, by name. */
export function statusesIn(picture: Picture | undefined, env: string): ReadonlyMap<string, string> {
  return new Map(componentsIn(picture, env).map((n) => [n.name, n.status]));
}

/** How many nodes drawing it takes: components (every environment's) and parameters. */
export const nodesOf = (p: Picture): number => p.envs.reduce((n, g) => n + g.nodes.length, 0) + p.params.length;
