import { parseTimeReport } from '../../../runners/local/time-report';

describe('parseTimeReport', () => {
  it('reads CPU time, peak RSS and the exit code of a normal exit', () => {
    expect(parseTimeReport('eo-rusage 0.52 0.30 0.12 11520 0\n')).toEqual({ cpuTimeMs: 420, peakMemoryKb: 11520, exitCode: 0, signal: null });
  });

  it('reads a non-zero exit code', () => {
    const text = 'Command exited with non-zero status 3\neo-rusage 0.00 0.00 0.00 3168 3\n';
    expect(parseTimeReport(text)).toMatchObject({ exitCode: 3, signal: null });
  });

  it('reads the signal that terminated the command', () => {
    const text = 'Command terminated by signal 24\neo-rusage 1.05 1.01 0.03 13476 0\n';
    expect(parseTimeReport(text)).toEqual({ cpuTimeMs: 1040, peakMemoryKb: 13476, exitCode: null, signal: 'SIGXCPU' });
  });

  it('returns null for an empty or foreign report', () => {
    expect(parseTimeReport('')).toBeNull();
    expect(parseTimeReport('real 0m0.001s\n')).toBeNull();
  });
});
