import { classifyTermination, type TerminationFacts } from '../../../runners/local/classify';

const facts = (overrides: Partial<TerminationFacts>): TerminationFacts => ({
  language: 'python',
  killReason: null,
  exitCode: 0,
  signal: null,
  cpuTimeMs: 10,
  cpuLimitMs: 1000,
  stderrTail: '',
  wallTimeMs: 100,
  wallLimitMs: 5000,
  ...overrides,
});

describe('classifyTermination', () => {
  it('calls a clean exit exited', () => {
    expect(classifyTermination(facts({}))).toBe('exited');
  });

  it('prefers the reason the runner killed for', () => {
    expect(classifyTermination(facts({ killReason: 'wall_timeout', signal: 'SIGKILL', exitCode: null }))).toBe('wall_timeout');
  });

  it('calls a SIGKILL the runner did not send, past the wall limit, a wall timeout (the timeout backstop fired)', () => {
    expect(classifyTermination(facts({ signal: 'SIGKILL', exitCode: null, wallTimeMs: 6000 }))).toBe('wall_timeout');
    expect(classifyTermination(facts({ signal: 'SIGKILL', exitCode: null, wallTimeMs: 4999 }))).toBe('exited');
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
