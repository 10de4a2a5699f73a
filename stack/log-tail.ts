import fs from 'node:fs';
import { RUN_MARKER } from './process';

const MAX_READ_BYTES = 256 * 1024;

/** The last `lines` lines of a log, from its latest run marker on (so old runs don't confuse). */
export function tailLog(file: string, lines = 20): string {
  let text: string;
  try {
    const size = fs.statSync(file).size;
    const start = Math.max(0, size - MAX_READ_BYTES);
    const buffer = Buffer.alloc(size - start);
    const fd = fs.openSync(file, 'r');
    try {
      fs.readSync(fd, buffer, 0, buffer.length, start);
    } finally {
      fs.closeSync(fd);
    }
    text = buffer.toString('utf8');
  } catch {
    return '(log file is missing)';
  }
  const markerAt = text.lastIndexOf(RUN_MARKER);
  if (markerAt >= 0) text = text.slice(markerAt);
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n') || '(log file is empty)';
}
