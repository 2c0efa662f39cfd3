/** Apply simulation over an in-memory runtime store: the real recordApply path, no disk, no SQLite. */
import { buildFromConfig } from '../../lib/app/build.ts';
import { recordApply, type ApplyRecord } from '../../lib/app/record.ts';
import type { Build } from '../../lib/core/graph.ts';
import type { Config } from '../../lib/core/model.ts';
import type { RuntimeStore } from '../../lib/ports.ts';
import { InMemoryRuntimeStore, tickingClock } from './memory-stores.ts';

/** Parameters written at 2026-11-28T00:00:00Z, then one second later each. */
export function memoryRuntime(): InMemoryRuntimeStore {
  return new InMemoryRuntimeStore(tickingClock('2026-11-28T00:00:00Z'));
}

export async function apply(cfg: Config, runtime: RuntimeStore, env: string, component: string, outputs: Record<string, unknown> = {}, extra: Partial<ApplyRecord> = {}): Promise<void> {
  await recordApply(cfg, runtime, { env, component, result: 'success', outputs, appliedAt: '2026-11-28T10:00:00Z', ...extra });
}

export async function build(cfg: Config, runtime: RuntimeStore): Promise<Build> {
  return (await buildFromConfig(cfg, runtime, { clock: { now: () => new Date('2026-11-28T12:00:00Z') } })).build;
}

export function status(b: Build, env: string, component: string): [string, string] {
  const s = b.statuses.get(`${env}/${component}`)!;
  return [s.status, s.reason];
}
