/** Apply simulation over an in-memory SQLite runtime: the real recordApply path, no disk. */
import { openDatabase } from '../../../lib/adapters/local/database.ts';
import { LocalRuntimeStore } from '../../../lib/adapters/local/runtime-store.ts';
import { buildFromConfig } from '../../../lib/app/build.ts';
import { recordApply, type ApplyRecord } from '../../../lib/app/record.ts';
import type { Build } from '../../../lib/core/graph.ts';
import type { Config } from '../../../lib/core/model.ts';

export function memoryRuntime(): LocalRuntimeStore {
  let tick = 0;
  const clock = { now: () => new Date(Date.UTC(2026, 10, 28, 0, 0, tick++)) };
  return new LocalRuntimeStore(openDatabase(':memory:', { create: false }), clock);
}

export async function apply(cfg: Config, runtime: LocalRuntimeStore, env: string, component: string, outputs: Record<string, unknown> = {}, extra: Partial<ApplyRecord> = {}): Promise<void> {
  await recordApply(cfg, runtime, { env, component, result: 'success', outputs, appliedAt: '2026-11-28T10:00:00Z', ...extra });
}

export async function build(cfg: Config, runtime: LocalRuntimeStore): Promise<Build> {
  return (await buildFromConfig(cfg, runtime, { clock: { now: () => new Date('2026-11-28T12:00:00Z') } })).build;
}

export function status(b: Build, env: string, component: string): [string, string] {
  const s = b.statuses.get(`${env}/${component}`)!;
  return [s.status, s.reason];
}
