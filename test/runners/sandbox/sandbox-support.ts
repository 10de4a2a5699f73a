import type { LocalRunner } from '../../../runners/local-runner';
import type { RunLimits, RunResult, RunnerLanguage } from '../../../runners/runner';

export const sandboxLimits: RunLimits = {
  wallTimeMs: 10_000,
  cpuTimeMs: 10_000,
  memoryMb: 256,
  maxOutputBytes: 256 * 1024,
  maxProcesses: 32,
  maxFileSizeBytes: 256 * 1024 * 1024,
};

let sequence = 0;

/** Runs one script in the sandbox with the given limit overrides; a fresh execution id each time. */
export function runIn(runner: LocalRunner, language: RunnerLanguage, script: string, limits: Partial<RunLimits> = {}, prefix = 'sandbox'): Promise<RunResult> {
  sequence += 1;
  return runner.run({ executionId: `${prefix}-${process.pid}-${sequence}`, language, script, limits: { ...sandboxLimits, ...limits } });
}

/** The id the next {@link runIn} will use. */
export function nextExecutionId(prefix = 'sandbox'): string {
  return `${prefix}-${process.pid}-${sequence + 1}`;
}

/** A script's last stdout line parsed as JSON (scripts print their findings as one JSON line). */
export function findings<T = Record<string, unknown>>(result: RunResult): T {
  const lines = result.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1] ?? '') as T;
  } catch {
    throw new Error(`no JSON findings; stdout: ${result.stdout.slice(0, 2000)} stderr: ${result.stderr.slice(0, 2000)}`);
  }
}
