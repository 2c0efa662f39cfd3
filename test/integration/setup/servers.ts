/**
 * Global setup of the `integration` project: one Gremlin Server (TinkerPop 3.7.4, Neptune-like settings) and
 * one moto server per run, on free 127.0.0.1 ports; tests reach them through test/support/stand-ins.ts (the
 * endpoints, dummy credentials, region and environment variables in one place). Missing java, mvn or python3 fails the run with a message saying what to
 * install: these tests are never skipped silently.
 */
import type { TestProject } from 'vitest/node';
import { startGremlinServer, startMotoServer } from '../../../scripts/servers/servers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    gremlinEndpoint: string;
    motoEndpoint: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [gremlin, moto] = await Promise.all([startGremlinServer(), startMotoServer()]);
  project.provide('gremlinEndpoint', gremlin.endpoint);
  project.provide('motoEndpoint', moto.endpoint);
  return async () => {
    await Promise.all([gremlin.stop(), moto.stop()]);
  };
}
