/**
 * What a command may touch of the terminal. Commands write through this, never to process.* directly, so
 * tests call them as plain functions and read what they printed.
 */
import { createInterface } from 'node:readline/promises';
import pc from 'picocolors';
import { readUserStdin } from '../app/open.ts';

export interface IO {
  out(text: string): void;
  err(text: string): void;
  readonly color: boolean;
  /** All of standard input (at most 1 MiB: a larger one is a UsageError), e.g. a secret for `runtime put NAME -`. */
  readStdin?(label: string): Uint8Array;
  /** Whether standard input is a terminal (then a prompt says how to end the value). */
  readonly stdinIsTTY?: boolean;
  /**
   * A transient status line on stderr, redrawn in place (a spinner); undefined clears it. Only on a terminal:
   * absent otherwise, so nothing is printed per poll into logs and pipes.
   */
  readonly status?: (text: string | undefined) => void;
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
    readStdin: (label) => readUserStdin(label),
    stdinIsTTY: process.stdin.isTTY === true,
    ...(process.stderr.isTTY ? { status: (t: string | undefined) => void process.stderr.write(`\r\x1b[K${t ?? ''}`) } : {}),
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

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A spinner with elapsed time on `io.status`; does nothing when the IO has no status line (not a terminal). */
export function spinner(io: IO, intervalMs = 120): { start(text: string): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    if (timer) clearInterval(timer);
    if (timer) io.status?.(undefined);
    timer = undefined;
  };
  return {
    start(text: string): void {
      stop();
      if (!io.status) return;
      const started = Date.now();
      let frame = 0;
      const draw = (): void => io.status?.(`${FRAMES[frame++ % FRAMES.length]} ${text} (${Math.round((Date.now() - started) / 1000)}s)`);
      draw();
      timer = setInterval(draw, intervalMs);
      timer.unref();
    },
    stop,
  };
}

/** An IO that records, for tests; `stdin` is what standard input holds. */
export function memoryIO(stdin: string | Uint8Array = ''): IO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const bytes = typeof stdin === 'string' ? new TextEncoder().encode(stdin) : stdin;
  return { out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), color: false, readStdin: () => bytes, stdinIsTTY: false, stdout, stderr };
}

export type Paint = (s: string) => string;
export function palette(io: IO): Record<'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan' | 'magenta', Paint> {
  const c = pc.createColors(io.color);
  return { bold: c.bold, dim: c.dim, red: c.red, green: c.green, yellow: c.yellow, cyan: c.cyan, magenta: c.magenta };
}
