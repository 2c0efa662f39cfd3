/**
 * Recording the result of an apply in the runtime store: outputs first (each written only when its value
 * changed, so an unchanged output keeps its version and its consumers stay in-sync), then the state record
 * with the config hash and the version of every parameter the apply consumed. The pipeline's apply step and
 * `karma runtime record` (adopting applies made outside Karma) both go through here.
 */
import { requireEnvironment } from '../core/config.ts';
import { computeConfigHash } from '../core/config.ts';
import { UsageError, notDeployed } from '../core/errors.ts';
import { findReferences } from '../core/references.ts';
import { outputParamPath, stateParamPath, type Config, type Deployment } from '../core/model.ts';
import { parseState, type ComponentState } from '../core/runtime.ts';
import type { Clock, RuntimeStore } from '../ports.ts';
import { systemClock } from '../ports.ts';

export interface ApplyRecord {
  readonly env: string;
  readonly component: string;
  readonly result: 'success' | 'failed';
  /** Terraform's outputs (decoded values). Ignored for a failed apply. */
  readonly outputs?: Readonly<Record<string, unknown>>;
  /** Outputs Terraform itself marks `sensitive`: stored as SecureString even when component.yaml forgets them. */
  readonly sensitive?: readonly string[];
  readonly error?: string;
  readonly commit?: string;
  readonly appliedAt?: string;
  /** The inputs the apply used, when not the current ones (adopting an older apply). */
  readonly inputs?: Record<string, unknown>;
  readonly drift?: { readonly drifted: boolean; readonly summary?: string; readonly checkedAt?: string };
  /** Where Terraform keeps this deployment's state (state-backend.ts ResolvedState.location). */
  readonly stateLocation?: string;
  /** How long `terraform init` took, shown in the pipeline's result table. */
  readonly initMillis?: number | undefined;
}

export function findDeployment(config: Config, env: string, component: string): Deployment {
  requireEnvironment(config, env);
  const d = config.deployments.find((x) => x.env === env && x.component === component);
  if (!d) {
    throw notDeployed(component, env, config.deployments.filter((x) => x.env === env).map((x) => x.component));
  }
  return d;
}

export async function recordApply(config: Config, runtime: RuntimeStore, record: ApplyRecord, clock: Clock = systemClock): Promise<ComponentState> {
  const d = findDeployment(config, record.env, record.component);
  const def = config.components.get(d.component)!;
  const prefix = config.project.parameterPrefix;
  const inputs = record.inputs ?? d.inputs;
  const references = record.inputs ? findReferences(record.inputs, d.env).references : d.references;
  const appliedAt = record.appliedAt ?? clock.now().toISOString();

  const encodings: Record<string, 'string' | 'json'> = {};
  const previous = parseState((await runtime.readNames([stateParamPath(prefix, d.env, d.component)]))[0]);
  // A record that does not say where the state is (a failure before Terraform ran, an adopted apply) keeps the last one.
  const stateLocation = record.stateLocation ?? (previous.kind === 'ok' ? previous.state.stateLocation : undefined);
  if (record.result === 'failed') {
    // A failed apply leaves the outputs as they were: keep how they are encoded.
    if (previous.kind === 'ok') Object.assign(encodings, previous.state.outputs);
  }
  if (record.result === 'success') {
    const given = record.outputs ?? {};
    for (const name of Object.keys(given)) {
      if (!def.outputs.includes(name)) {
        throw new UsageError(`${d.component} has no output "${name}" in ${def.file}; it declares ${def.outputs.join(', ') || 'no outputs'}`);
      }
    }
    const path = (name: string): string => outputParamPath(prefix, d.env, d.component, name);
    const current = new Map((await runtime.readNames(def.outputs.map(path))).map((p) => [p.name, p]));
    for (const name of def.outputs) {
      if (!(name in given)) continue;
      const value = given[name];
      // SSM refuses an empty value: an empty string travels JSON-encoded ("") like any non-string value.
      const encoding = typeof value === 'string' && value !== '' ? 'string' : 'json';
      encodings[name] = encoding;
      const text = encoding === 'string' ? (value as string) : JSON.stringify(value);
      const type = def.sensitiveOutputs.includes(name) || record.sensitive?.includes(name) ? 'SecureString' : 'String';
      const before = current.get(path(name));
      if (before && before.value === text && before.type === type) continue;
      await runtime.put(path(name), text, { type, overwrite: true });
    }
  }

  const outputVersions: Record<string, number> = {};
  if (record.result === 'success') {
    const paths = def.outputs.map((name) => outputParamPath(prefix, d.env, d.component, name));
    for (const p of await runtime.readNames(paths)) outputVersions[p.name.slice(p.name.lastIndexOf('/') + 1)] = p.version;
  } else if (previous.kind === 'ok') {
    Object.assign(outputVersions, previous.state.outputVersions);
  }

  const consumedPaths = references.map((r) => (r.kind === 'ssm' ? r.path : outputParamPath(prefix, r.env, r.component, r.output)));
  const consumed: Record<string, number> = {};
  for (const p of await runtime.readNames([...new Set(consumedPaths)])) consumed[p.name] = p.version;

  const state: ComponentState = {
    configHash: computeConfigHash(def, inputs),
    consumed,
    ...(record.commit ? { commit: record.commit } : config.commit ? { commit: config.commit } : {}),
    appliedAt,
    result: record.result,
    ...(record.error ? { error: record.error } : {}),
    ...(stateLocation ? { stateLocation } : {}),
    outputs: encodings,
    outputVersions,
    ...(record.initMillis !== undefined ? { initMillis: record.initMillis } : {}),
    ...(record.drift ? { drift: { checkedAt: record.drift.checkedAt ?? appliedAt, drifted: record.drift.drifted, ...(record.drift.summary ? { summary: record.drift.summary } : {}) } } : {}),
  };
  await runtime.put(stateParamPath(prefix, d.env, d.component), JSON.stringify(state), { type: 'String', overwrite: true });
  return state;
}

/** Records a drift check's result in the component's state, leaving everything else as it was. */
export async function recordDrift(
  config: Config,
  runtime: RuntimeStore,
  target: { env: string; component: string },
  drift: { drifted: boolean; summary?: string; initMillis?: number | undefined },
  clock: Clock = systemClock,
): Promise<void> {
  const d = findDeployment(config, target.env, target.component);
  const path = stateParamPath(config.project.parameterPrefix, d.env, d.component);
  const [param] = await runtime.readNames([path]);
  const read = parseState(param);
  if (read.kind !== 'ok') throw new UsageError(`${d.component} in ${d.env} has no readable state to record a drift check in; apply it first`);
  const { initMillis: _previous, ...kept } = read.state;
  const state: ComponentState = { ...kept, ...(drift.initMillis !== undefined ? { initMillis: drift.initMillis } : {}), drift: { checkedAt: clock.now().toISOString(), drifted: drift.drifted, ...(drift.summary ? { summary: drift.summary } : {}) } };
  await runtime.put(path, JSON.stringify(state), { type: 'String', overwrite: true });
}
