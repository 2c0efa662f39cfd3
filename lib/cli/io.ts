/**
 * What a command may touch of the terminal. Commands write through this, never to process.* directly, so
 * tests call them as plain functions and read what they printed.
 */
import { createInterface } from 'node:readline/promises';
import pc from 'picocolors';

export interface IO {
  out(text: string): void;
  err(text: string): void;
  readonly color: boolean;
  /** A person can answer a question (stdin and stderr are terminals). Absent: no. */
  readonly interactive?: boolean;
  /** Asks one question on the terminal and returns the answer (only when interactive). */
  ask?(question: string): Promise<string>;
}

export function processIO(): IO {
  const color = pc.isColorSupported && !process.env['NO_COLOR'];
  return {
    out: (t) => void process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => void process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
    color,
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    ask: async (question) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
}

/** An IO that records, for tests. */
export function memoryIO(): IO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), color: false, stdout, stderr };
}

export type Paint = (s: string) => string;
export function palette(io: IO): Record<'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan' | 'magenta', Paint> {
  const c = pc.createColors(io.color);
  return { bold: c.bold, dim: c.dim, red: c.red, green: c.green, yellow: c.yellow, cyan: c.cyan, magenta: c.magenta };
}
