/**
 * `karma destroy COMPONENT ENV` and `karma forget COMPONENT ENV` (docs/cli.md, docs/statuses.md "orphaned").
 *
 * Both change something that cannot be undone, so both show what they will do and need a decision: a "yes"
 * typed at the terminal, or `--yes`. Without a terminal and without `--yes` they refuse (exit 2) before
 * touching anything. Exit codes: 0 done, 1 Terraform or the store failed (or the prompt was declined: nothing
 * changed), 2 invalid request (unknown component, nothing to destroy, no decision possible, still in the config).
 */
import { hostname } from 'node:os';
import { terraformPlaces } from './component.ts';
import { UsageError, unknownEnvironment } from '../../core/errors.ts';
import { buildFromConfig, loadConfig, loadConfigAndFiles } from '../../app/build.ts';
import { applyDestroy, destroyTargets, discardPlans, forgetRecord, planDestroy, runtimeRecord, withEnvironmentLock, type DestroyOutcome } from '../../app/destroy.ts';
import { openTerraform } from '../../app/open.ts';
import { formatWaves, plural } from '../format.ts';
import { palette, type IO } from '../io.ts';
import { makeSource, progressFor, withBackend, type CommonOptions } from '../context.ts';

export interface DestroyOptions extends CommonOptions {
  readonly component: string;
  readonly env: string;
  /** The decision, given in advance (CI). */
  readonly yes?: boolean;
  /** Show the plan, destroy nothing. */
  readonly dryRun?: boolean;
  readonly terraform?: string;
  readonly workDir?: string;
  readonly verbose?: boolean;
}

/** Refuses (exit 2) when nobody can be asked and no decision was given: before anything is planned or changed. */
function requireDecisionPossible(io: IO, options: { yes?: boolean; dryRun?: boolean }, what: string, how: string): void {
  if (options.yes || options.dryRun || io.interactive) return;
  throw new UsageError(`refusing to ${what} without a decision: there is no terminal to ask on; ${how}`);
}

/** The decision: --yes, or "yes" typed at the prompt. */
async function decide(io: IO, options: { yes?: boolean }, question: string): Promise<boolean> {
  if (options.yes) return true;
  const answer = (await io.ask!(`${question} Only "yes" is accepted: `)).trim();
  return answer === 'yes';
}

export async function destroyCommand(options: DestroyOptions, io: IO): Promise<number> {
  const p = palette(io);
  const progress = progressFor(io, options);
  // The config as it is now (without --ref): it says whether the deployment is still there.
  const currentSource = makeSource({ ...(options.config ? { config: options.config } : {}) });
  const config = await loadConfig(currentSource);
  return withBackend(config, options, { create: false }, async (backend) => {
    const { build } = await buildFromConfig(config, backend.runtime, { source: currentSource });
    const orphan = build.orphans.find((o) => o.env === options.env && o.component === options.component);
    if (!orphan && options.ref) {
      throw new UsageError(`--ref is for a removed (orphaned) deployment; ${options.component} is ${build.config.deployments.some((d) => d.env === options.env && d.component === options.component) ? 'still in the config: it is destroyed with the config as it is' : `not known in ${options.env}`}`);
    }
    // The module of an orphan: the config at --ref, else at the last commit that still had it.
    const ref = options.ref ?? orphan?.removal?.lastCommit;
    if (orphan && !ref) {
      throw new UsageError(
        `${options.component} is no longer in the config and its last version was not found in Git history (${orphan.reason}); pass --ref with a commit where environments/${options.env}/${options.component}.json exists, to destroy it with the module and inputs it had there`,
      );
    }
    const { config: moduleConfig, files } = orphan ? await loadConfigAndFiles(makeSource({ ...(options.config ? { config: options.config } : {}), ref: ref! })) : await loadConfigAndFiles(currentSource);
    const selection = destroyTargets(build, options.env, options.component, orphan ? moduleConfig : undefined);
    const targets = selection.waves.flat();
    requireDecisionPossible(io, options, `destroy ${targets.join(', ')} in ${options.env}`, `review the plan with --dry-run, then run again with --yes`);

    if (!options.json) {
      const from = orphan ? ` (orphaned; module and inputs from commit ${moduleConfig.commit?.slice(0, 7)})` : '';
      io.out(`${p.bold(`destroy ${options.component} in ${options.env}`)}${from}, dependents first:`);
      io.out(formatWaves(selection.waves));
      if (!orphan) {
        io.out(p.yellow(`note: ${options.component} is still in the config (environments/${options.env}/...): the next pipeline run applies it again; remove its env file to keep it gone`));
      }
    }
    const { runner } = openTerraform(config, { binary: options.terraform, onLine: options.verbose && !options.json ? (l) => io.err(`  ${l}`) : undefined });
    const run = {
      files,
      ...terraformPlaces(config, options),
      runner,
      progress,
    };
    const owner = { owner: `karma-destroy:${process.pid}:${Date.now()}`, host: hostname(), pid: process.pid };
    return await withEnvironmentLock(backend.locks, options.env, owner, async () => {
      const plans = await planDestroy(moduleConfig, backend.runtime, selection, run);
      const resources = plans.reduce((n, x) => n + x.resources.length, 0);
      if (!options.json) {
        for (const plan of plans) {
          io.out(`  ${plan.component}: ${plan.summary}`);
          for (const r of plan.resources) io.out(p.red(`    - ${r}`));
        }
      }
      const report = (outcomes: DestroyOutcome[] | null, extra: Record<string, unknown> = {}): void => {
        if (options.json) io.out(JSON.stringify({ env: options.env, component: options.component, orphaned: selection.orphaned, ...(orphan ? { ref } : {}), waves: selection.waves, plans, outcomes, ...extra }));
      };
      if (options.dryRun) {
        discardPlans(plans, run);
        report(null, { dryRun: true });
        if (!options.json) io.out('dry run: nothing was destroyed');
        return 0;
      }
      const question = `Destroy ${targets.length} deployment${targets.length === 1 ? '' : 's'} in ${options.env} (${resources} resource${resources === 1 ? '' : 's'}) and delete ${targets.length === 1 ? 'its' : 'their'} runtime record?`;
      if (!(await decide(io, options, question))) {
        discardPlans(plans, run);
        report(null, { declined: true });
        io.err('karma: declined: nothing was destroyed');
        return 1;
      }
      const outcomes = await applyDestroy(moduleConfig, backend.runtime, plans, run);
      report(outcomes);
      if (!options.json) {
        for (const o of outcomes) {
          if (o.outcome === 'destroyed') io.out(p.green(`${o.env}/${o.component}: destroyed; runtime record deleted (${plural(o.forgotten ?? 0, 'parameter')})`));
          else if (o.outcome === 'failed') io.out(p.red(`${o.env}/${o.component}: destroy failed: ${o.error}`));
          else io.out(`${o.env}/${o.component}: not run (an earlier destroy failed)`);
        }
      }
      return outcomes.every((o) => o.outcome === 'destroyed') ? 0 : 1;
    });
  });
}

export interface ForgetOptions extends CommonOptions {
  readonly component: string;
  readonly env: string;
  readonly yes?: boolean;
}

export async function forgetCommand(options: ForgetOptions, io: IO): Promise<number> {
  const source = makeSource(options);
  const config = await loadConfig(source);
  if (!config.project.environments.has(options.env)) throw unknownEnvironment(options.env, config.project.environments.keys());
  const deployed = config.deployments.find((d) => d.env === options.env && d.component === options.component);
  if (deployed) {
    throw new UsageError(
      `${options.component} is still in the config of ${options.env} (${deployed.file}): remove that file first (it then shows as orphaned), or destroy it with karma destroy ${options.component} ${options.env}`,
    );
  }
  return withBackend(config, options, { create: false }, async (backend) => {
    const names = await runtimeRecord(config, backend.runtime, options.env, options.component);
    if (names.length === 0) throw new UsageError(`nothing to forget: the runtime holds no record of ${options.component} in ${options.env}`);
    requireDecisionPossible(io, { ...(options.yes ? { yes: true } : {}) }, `forget ${options.component} in ${options.env}`, 'run again with --yes');
    if (!options.json) {
      io.out(`forget ${options.component} in ${options.env}: delete its runtime record (${plural(names.length, 'parameter')}); its resources are NOT destroyed`);
      for (const n of names) io.out(`  - ${n}`);
    }
    if (!(await decide(io, options, names.length === 1 ? 'Delete this parameter?' : `Delete these ${names.length} parameters?`))) {
      io.err('karma: declined: nothing was deleted');
      return 1;
    }
    const { deleted } = await withEnvironmentLock(backend.locks, options.env, { owner: `karma-forget:${process.pid}:${Date.now()}`, host: hostname(), pid: process.pid }, () =>
      forgetRecord(config, backend.runtime, options.env, options.component),
    );
    if (options.json) io.out(JSON.stringify({ env: options.env, component: options.component, deleted, names }));
    else io.out(`forgot ${options.component} in ${options.env}: ${plural(deleted, 'parameter')} deleted`);
    return 0;
  });
}
