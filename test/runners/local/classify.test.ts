import { classifyTermination, type TerminationFacts } from '../../../runners/local/classify';

const facts = (overrides: Partial<TerminationFacts>): TerminationFacts => ({
  language: 'python',
  killReason: null,
  exitCode: 0,
  signal: null,
  cpuTimeMs: 10,
  cpuLimitMs: 1000,
  stderrTail: '',
  oomKills: 0,
  pidsRefused: 0,
  ...overrides,
});

describe('classifyTermination', () => {
  it('calls a clean exit exited', () => {
    expect(classifyTermination(facts({}))).toBe('exited');
  });

  it('prefers the reason the runner killed for', () => {
    expect(classifyTermination(facts({ killReason: 'wall_timeout', signal: 'SIGKILL', exitCode: null }))).toBe('wall_timeout');
  });

  it('calls any OOM kill in the run’s cgroup memory_limit, even when the script carried on and exited 0', () => {
    expect(classifyTermination(facts({ oomKills: 1, signal: 'SIGKILL', exitCode: null }))).toBe('memory_limit');
    expect(classifyTermination(facts({ oomKills: 1 }))).toBe('memory_limit');
  });

  it('calls a failed run with forks refused by the pids limit process_limit, but not a successful one', () => {
    expect(classifyTermination(facts({ pidsRefused: 3, exitCode: 254 }))).toBe('process_limit');
    expect(classifyTermination(facts({ pidsRefused: 3, exitCode: 0 }))).toBe('exited');
  });

  it('calls SIGXFSZ, EFBIG and ENOSPC on a failed run file_limit', () => {
    expect(classifyTermination(facts({ signal: 'SIGXFSZ', exitCode: null }))).toBe('file_limit');
    expect(classifyTermination(facts({ exitCode: 1, stderrTail: 'OSError: [Errno 27] File too large' }))).toBe('file_limit');
    expect(classifyTermination(facts({ exitCode: 1, stderrTail: 'dd: error writing: No space left on device' }))).toBe('file_limit');
  });

  it('calls SIGXCPU a CPU limit', () => {
    expect(classifyTermination(facts({ signal: 'SIGXCPU', exitCode: null }))).toBe('cpu_limit');
  });

  it('calls a SIGKILL with the CPU time used up a CPU limit (hard limit), and any other SIGKILL exited', () => {
    expect(classifyTermination(facts({ signal: 'SIGKILL', exitCode: null, cpuTimeMs: 2000 }))).toBe('cpu_limit');
    expect(classifyTermination(facts({ signal: 'SIGKILL', exitCode: null, cpuTimeMs: 20 }))).toBe('exited');
  });

  it('recognises interpreter out-of-memory reports on a failed run', () => {
    expect(classifyTermination(facts({ exitCode: 1, stderrTail: 'Traceback...\nMemoryError\n' }))).toBe('memory_limit');
    expect(
      classifyTermination(facts({ language: 'node', exitCode: null, signal: 'SIGABRT', stderrTail: 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory' })),
    ).toBe('memory_limit');
    expect(classifyTermination(facts({ language: 'bash', exitCode: 2, stderrTail: 'bash: xrealloc: cannot allocate 62566400 bytes' }))).toBe('memory_limit');
  });

  it('does not let a successful script claim memory_limit by printing the marker', () => {
    expect(classifyTermination(facts({ exitCode: 0, stderrTail: 'MemoryError\n' }))).toBe('exited');
  });
});
