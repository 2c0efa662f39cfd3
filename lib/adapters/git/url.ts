/** Whether a config location is a Git URL (cloned into a cache) rather than a local directory. No Git loaded. */
export function isGitUrl(location: string): boolean {
  return /^(https?:\/\/|git@|ssh:\/\/)/.test(location);
}
