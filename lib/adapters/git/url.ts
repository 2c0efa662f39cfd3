/** Whether a config location is a Git URL (a light module: deciding this must not load isomorphic-git). */
export function isGitUrl(location: string): boolean {
  return /^(https?:\/\/|git@|ssh:\/\/)/.test(location);
}
