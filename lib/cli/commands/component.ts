/**
 * `karma component apply|plan|drift COMPONENT ENV`: the Terraform work of one component. This is the one
 * command CodeBuild's buildspec runs, and the one the local pipeline runner runs for each Map item.
 *
 * Exit codes: 0 when Terraform did its job (applied; plan found or did not find changes; drift check done,
 * whether it found drift or not: the result says which), 1 when Terraform or the store failed, 2 for bad
 * input (unknown component, missing terraform binary...).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigAndFiles } from '../../app/build.ts';
import { runComponent, type ComponentMode, type StateOptions } from '../../app/component.ts';
import { openTerraform, pluginCacheDir } from '../../app/open.ts';
import { baseDir, makeSource, progressFor, withBackend, type CommonOptions } from '../context.ts';
import type { IO } from '../io.ts';
import { formatPlannedResources, planDetail } from '../../core/plan.ts';
import type { Config } from '../../core/model.ts';
import { terraformPlaces as placesFor, type Places } from '../../app/places.ts';

export { remoteStateFromEnv } from '../../app/places.ts';

export interface ComponentOptions extends CommonOptions {
  readonly component: string;
  readonly env: string;
  readonly mode: ComponentMode;
  readonly commit?: string;
  /** Terraform working directories (default: <local store folder>/work). */
  readonly workDir?: string;
  /** terraform | tofu | a path (default: $KARMA_TERRAFORM, karma.yaml terraform.binary, then PATH). */
  readonly terraform?: string;
  /** Stream Terraform's output to stderr. */
  readonly verbose?: boolean;
  /** The state was moved to the configured backend by hand: accept it although the last apply recorded another. */
  readonly stateMoved?: boolean;
}

/** The local store's folder, Terraform's working copies: the command's flags as lib/app/places.ts takes them. */
export function placesOf(options: CommonOptions & { readonly workDir?: string }): Places {
  return { baseDir: baseDir(options), ...(options.store ? { store: options.store } : {}), ...(options.workDir ? { workDir: options.workDir } : {}) };
}

/** lib/app/places.ts's terraformPlaces for a command's flags (karma component, karma destroy). */
export function terraformPlaces(config: Config, options: CommonOptions & { readonly workDir?: string }): { workRoot: string } & StateOptions {
  return placesFor(config, placesOf(options));
}

export async function componentRun(options: ComponentOptions, io: IO): Promise<number> {
  const progress = progressFor(io, options);
  const { config, files } = await loadConfigAndFiles(makeSource(options));
  const { runner } = openTerraform(config, { binary: options.terraform, onLine: options.verbose && !options.json ? (l) => io.err(`  ${l}`) : undefined });
  const places = terraformPlaces(config, options);
  const { workRoot } = places;
  const cacheDir = pluginCacheDir(workRoot);
  return withBackend(config, options, { create: true, io }, async (backend) => {
    const result = await runComponent(config, backend.runtime, {
      env: options.env,
      component: options.component,
      mode: options.mode,
      files,
      ...places,
      ...(options.stateMoved ? { stateMoved: true } : {}),
      runner,
      ...(options.commit ? { commit: options.commit } : {}),
      ...(cacheDir ? { pluginCacheDir: cacheDir } : {}),
      progress,
    });
    const log = join(workRoot, result.env, result.component, `${result.mode}.log`);
    if (options.json) io.out(JSON.stringify({ ...result, log }));
    else {
      const changed = result.changedOutputs?.length ? ` (changed outputs: ${result.changedOutputs.join(', ')})` : '';
      const plan = result.plan ? ` (${planDetail(result.plan)})` : '';
      io.out(`${result.env}/${result.component}: ${result.outcome}${plan}${changed}${result.error ? `: ${result.error}` : ''} in ${result.millis} ms`);
      if (result.plan) for (const line of formatPlannedResources(result.plan)) io.out(`  ${line}`);
      if (result.outcome === 'failed' && existsSync(log)) io.err(`karma: the full Terraform log is in ${log}`);
      if (options.verbose && result.initMillis !== undefined) {
        io.err(`karma: terraform init took ${result.initMillis} ms (provider cache: ${result.providerCache ? `${result.providerCache}, ${cacheDir}` : 'off'})`);
      }
    }
    return result.outcome === 'failed' ? 1 : 0;
  });
}
