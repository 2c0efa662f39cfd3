/**
 * Preloaded into a `karma` child process (`node --import ./test/helpers/rss-probe.ts bin/karma.ts ...`): on exit,
 * writes the process's peak resident set size in KiB (process.resourceUsage().maxRSS, getrusage underneath) to
 * the file named by KARMA_RSS_FILE. Works wherever Node does; no /usr/bin/time needed (Debian does not ship it).
 */
import { writeFileSync } from 'node:fs';

const file = process.env['KARMA_RSS_FILE'];
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));
