import type { Command } from 'commander';
export async function completionCommand(_p: Command, _s: string, _io: unknown): Promise<number> { return 0; }
