/** In-memory config repos for core tests: no disk, no network. */
import { parseConfig } from '../../lib/core/config.ts';
import type { Config, RepoFile } from '../../lib/core/model.ts';

export function files(map: Record<string, string | Uint8Array>): RepoFile[] {
  return Object.entries(map).map(([path, content]) => ({ path, bytes: typeof content === 'string' ? new TextEncoder().encode(content) : content }));
}

export interface ComponentSpec {
  readonly outputs?: readonly string[];
  readonly dependsOn?: readonly string[];
  readonly schema?: Record<string, unknown>;
  /** env → inputs */
  readonly in: Record<string, Record<string, unknown>>;
}

/** A repo with the given environments and components (module dir = the component folder). */
export function repoFiles(envs: readonly string[], components: Record<string, ComponentSpec>, extra: Record<string, string> = {}): RepoFile[] {
  const map: Record<string, string> = {
    'karma.yaml': `project: test\nenvironments:\n${envs.map((e) => `  ${e}: {}`).join('\n')}\n`,
  };
  for (const [name, spec] of Object.entries(components)) {
    const lines = [`description: ${name}`];
    if (spec.dependsOn?.length) lines.push(`dependsOn: [${spec.dependsOn.join(', ')}]`);
    if (spec.outputs?.length) lines.push(`outputs: [${spec.outputs.join(', ')}]`);
    if (spec.schema) lines.push(`inputs: ${JSON.stringify(spec.schema)}`);
    map[`components/${name}/component.yaml`] = `${lines.join('\n')}\n`;
    map[`components/${name}/main.tf`] = `# ${name}\n`;
    for (const [env, inputs] of Object.entries(spec.in)) map[`environments/${env}/${name}.json`] = JSON.stringify(inputs, null, 2);
  }
  return files({ ...map, ...extra });
}

export function config(envs: readonly string[], components: Record<string, ComponentSpec>, extra: Record<string, string> = {}): Config {
  return parseConfig(repoFiles(envs, components, extra), { source: 'test' });
}
