import { constants } from 'node:os';

/**
 * Format handed to GNU time (`/usr/bin/time -f`): elapsed s, user s, system s, max RSS KiB,
 * exit status. The prefix makes the line unambiguous next to time's own status line.
 */
export const TIME_FORMAT = 'eo-rusage %e %U %S %M %x';

export interface TimeReport {
  cpuTimeMs: number;
  peakMemoryKb: number;
  /** Null when the command was killed by a signal. */
  exitCode: number | null;
  signal: string | null;
}

const RUSAGE_LINE = /^eo-rusage (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+) (-?\d+)$/m;
const SIGNAL_LINE = /^Command terminated by signal (\d+)$/m;

/**
 * Parses what GNU time wrote to its `-o` file. Returns null when the file is empty or foreign
 * (time itself was killed, or it is not GNU time), so the caller falls back to /proc samples.
 */
export function parseTimeReport(text: string): TimeReport | null {
  const rusage = RUSAGE_LINE.exec(text);
  if (!rusage) return null;
  const [, , user, system, maxRss, status] = rusage;
  const signalMatch = SIGNAL_LINE.exec(text);
  const signalNumber = signalMatch ? Number(signalMatch[1]) : null;
  return {
    cpuTimeMs: Math.round((Number(user) + Number(system)) * 1000),
    peakMemoryKb: Number(maxRss),
    exitCode: signalNumber === null ? Number(status) : null,
    signal: signalNumber === null ? null : signalName(signalNumber),
  };
}

export function signalName(signalNumber: number): string {
  const entry = Object.entries(constants.signals).find(([, value]) => value === signalNumber);
  return entry ? entry[0] : `SIG${signalNumber}`;
}
