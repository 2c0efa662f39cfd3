/**
 * `karma component apply|plan|drift COMPONENT ENV`: the Terraform work of one component. This is the one
 * command CodeBuild's buildspec runs, and the one the local pipeline runner runs for each Map item.
 *
 * Exit codes: 0 when Terraform did its job (applied; plan found or did not find changes; drift check done,
 * whether it found drift or not: the result says which), 1 when Terraform or the store failed, 2 for bad
 * input (unknown component, missing terraform binary...).
 */
import { join } from 'node:path';
import { loadConfigAndFiles } from '../../app/build.ts';
import { localDatabasePath } from '../../app/backend.ts';
import { runComponent, type ComponentMode } from '../../app/component.ts';
import { findTerraform, terraformRunner } from '../../adapters/terraform/runner.ts';
import { baseDir, makeSource, openBackendFor, progressFor, type CommonOptions } from '../context.ts';
import type { IO } from '../io.ts';
import { dirname } from 'node:path';

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
}

export async function componentRun(options: ComponentOptions, io: IO): Promise<number> {
  const progress = progressFor(io, options);
  const { config, files } = await loadConfigAndFiles(makeSource(options));
  const binary = findTerraform(options.terraform ?? process.env['KARMA_TERRAFORM'] ?? config.project.terraform.binary);
  const workRoot =
    options.workDir ?? process.env['KARMA_WORK_DIR'] ?? join(dirname(localDatabasePath(config, { baseDir: baseDir(options), ...(options.store ? { localPath: options.store } : {}) })), 'work');
  const backend = await openBackendFor(config, options, true, io);
  try {
    const result = await runComponent(config, backend.runtime, {
      env: options.env,
      component: options.component,
      mode: options.mode,
      files,
      workRoot,
      runner: terraformRunner(binary, options.verbose && !options.json ? { onLine: (l) => io.err(`  ${l}`) } : {}),
      ...(options.commit ? { commit: options.commit } : {}),
      progress,
    });
    if (options.json) io.out(JSON.stringify(result));
    else {
      const changed = result.changedOutputs?.length ? ` (changed outputs: ${result.changedOutputs.join(', ')})` : '';
      io.out(`${result.env}/${result.component}: ${result.outcome}${changed}${result.error ? `: ${result.error}` : ''} in ${result.millis} ms`);
      if (result.outcome === 'failed') io.err(`karma: the full Terraform log is in ${join(workRoot, result.env, result.component, `${result.mode}.log`)}`);
    }
    return result.outcome === 'failed' ? 1 : 0;
  } finally {
    await backend.close();
  }
}
