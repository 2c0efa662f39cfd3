export async function initCommand(_o: { dir: string; project?: string; env?: string }, _io: unknown): Promise<number> { return 0; }
