import type { ESLint, Rule } from 'eslint';

export interface Layer {
  readonly name: string;
  /** A folder ending in `/`, or one file, relative to the repository root. */
  readonly path: string;
  /** The layers this one may import besides its own files. */
  readonly may: readonly string[];
}

export const ROOT: string;
export const LAYERS: readonly Layer[];
export const UNSHIPPED: readonly string[];
export function layerOf(file: string): Layer | undefined;
export const layersRule: Rule.RuleModule;
declare const plugin: ESLint.Plugin;
export default plugin;
