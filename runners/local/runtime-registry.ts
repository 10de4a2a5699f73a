import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, realpathSync } from 'node:fs';
import { LANGUAGES, RUNTIMES, type Language } from '../../domain/runtimes';

/**
 * How each language is run, as data: where its interpreter may be, how to ask its version, its
 * command line and the environment it needs. The list of languages itself is the domain's
 * (domain/runtimes.ts); a language added there must get an entry here (the type says so).
 */
export interface RuntimeDefinition {
  /** Absolute interpreter paths, first executable one wins. */
  candidates: readonly string[];
  /** Arguments that make the interpreter print its version. */
  versionArgs: readonly string[];
  /** Finds the version in what `versionArgs` printed (stdout and stderr together); group 1 is the version. */
  versionPattern: RegExp;
  /**
   * Arguments after the interpreter. `{script}` becomes the script's file name (relative to the
   * working dir), `{memoryMb}` the run's memory limit in MiB.
   */
  args: readonly string[];
  /** Environment the interpreter gets besides PATH, HOME, TMPDIR and LANG. */
  env: Readonly<Record<string, string>>;
  /**
   * Whether RLIMIT_AS may stand in for the memory limit when there is no cgroup (`RUNNER_SANDBOX=none`).
   * Not for V8, which reserves GiBs of address space and aborts at start-up under ~2 GiB of it.
   */
  addressSpaceLimit: boolean;
}

export const RUNTIME_DEFINITIONS: Readonly<Record<Language, RuntimeDefinition>> = Object.freeze({
  python: {
    candidates: ['/usr/local/bin/python3', '/usr/bin/python3'],
    versionArgs: ['--version'],
    versionPattern: /Python (\d+\.\d+\.\d+)/,
    // isolated (no user site, no PYTHON* variables), unbuffered so output survives a kill
    args: ['-I', '-u', '{script}'],
    env: { PYTHONDONTWRITEBYTECODE: '1' },
    addressSpaceLimit: true,
  },
  node: {
    // The service's own node (the `node` npm package or the image's), so scripts get the version the
    // service is tested with; the sandbox binds it read-only when it lives outside /usr.
    candidates: [process.execPath, '/usr/local/bin/node', '/usr/bin/node'],
    versionArgs: ['--version'],
    versionPattern: /v(\d+\.\d+\.\d+)/,
    // V8 sizes its heap from the machine's memory, not the cgroup's (it cannot see /sys in the
    // sandbox): without this a big heap would meet the cgroup's OOM killer instead of a clean error.
    args: ['--max-old-space-size={memoryMb}', '{script}'],
    env: {},
    addressSpaceLimit: false,
  },
  bash: {
    candidates: ['/usr/bin/bash', '/bin/bash'],
    versionArgs: ['--version'],
    versionPattern: /version (\d+\.\d+\.\d+)/,
    args: ['{script}'],
    env: {},
    addressSpaceLimit: true,
  },
});

/** A runtime found on this host. */
export interface DetectedRuntime {
  language: Language;
  /** The interpreter's real path (symlinks resolved), so that the sandbox can bind exactly it. */
  interpreter: string;
  /** The version the interpreter reported, e.g. `3.11.2`. */
  version: string;
  fileName: string;
  definition: RuntimeDefinition;
}

/**
 * Finds every runtime of the registry installed here, with its version. Takes tens of ms (one
 * `--version` per language): done once at start. A language whose interpreter is missing is
 * left out; `overrides` replaces the candidates of a language with one path.
 */
export function detectRuntimes(overrides: Partial<Record<Language, string>> = {}): DetectedRuntime[] {
  const found: DetectedRuntime[] = [];
  for (const language of LANGUAGES) {
    const definition = RUNTIME_DEFINITIONS[language];
    const candidates = overrides[language] !== undefined ? [overrides[language]] : definition.candidates;
    const interpreter = candidates.find(isExecutable);
    if (!interpreter) continue;
    const probe = spawnSync(interpreter, [...definition.versionArgs], { encoding: 'utf8', env: {}, timeout: 10_000 });
    const version = definition.versionPattern.exec(`${probe.stdout ?? ''}${probe.stderr ?? ''}`)?.[1];
    if (probe.status !== 0 || !version) continue;
    found.push({ language, interpreter: realpathSync(interpreter), version, fileName: RUNTIMES[language].fileName, definition });
  }
  return found;
}

/** The interpreter's arguments for one run. */
export function runtimeArgs(runtime: DetectedRuntime, memoryMb: number): string[] {
  return runtime.definition.args.map((arg) =>
    arg.replaceAll('{script}', runtime.fileName).replaceAll('{memoryMb}', String(Math.max(1, Math.floor(memoryMb)))),
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false; // not installed at this path: try the next candidate
  }
}
