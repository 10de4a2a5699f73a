import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { projectRoot } from '../project-root';

/** What guardedCall's module exports (isolate-watchdog.cc). */
export interface IsolateWatchdogAddon {
  /** fn() under a deadline of timeoutMs; past it, throws ERR_SCRIPT_EXECUTION_TIMEOUT as node's vm does. */
  guardedCall<T>(fn: () => T, timeoutMs: number): T;
  /** This process's counts, every thread's together. */
  stats(): { guardedCalls: number; terminations: number };
}

export type IsolateWatchdogBuild = { addonPath: string; built: boolean } | { skipped: string };
export type IsolateWatchdogLoad = { addonPath: string; addon: IsolateWatchdogAddon } | { unavailable: string };

const SOURCE = path.join('workflow-threads', 'isolate-watchdog.cc');

/** Where the build puts the addon: one per Node ABI, since a V8 addon loads only in the Node major it was built for. */
export function isolateWatchdogAddonPath(root = projectRoot()): string {
  return path.join(root, 'dist', 'native', `isolate-watchdog-abi${process.versions.modules}.node`);
}

/**
 * Compiles isolate-watchdog.cc against this Node's headers (the `node` package's, or an install's own `include/`),
 * unless the addon is newer than its source. Without a compiler or headers it skips, and workers keep the SDK's
 * watchdog thread per call.
 */
export function buildIsolateWatchdog(root = projectRoot()): IsolateWatchdogBuild {
  const source = path.join(root, SOURCE);
  const addonPath = isolateWatchdogAddonPath(root);
  if (existsSync(addonPath) && statSync(addonPath).mtimeMs >= statSync(source).mtimeMs) return { addonPath, built: false };
  const headers = nodeHeaders(root);
  if (!headers) return { skipped: `no C++ headers for node ${process.version} (the node-${process.platform}-${process.arch} package or <prefix>/include/node)` };
  const compiler = process.env.CXX ?? 'g++';
  mkdirSync(path.dirname(addonPath), { recursive: true });
  const partial = `${addonPath}.${process.pid}.partial`;
  const compiled = spawnSync(compiler, ['-O2', '-std=c++20', '-shared', '-fPIC', '-fvisibility=hidden', '-pthread', '-isystem', headers, source, '-o', partial], { encoding: 'utf8' });
  if (compiled.error) return { skipped: `no C++ compiler (${compiler}: ${compiled.error.message})` };
  if (compiled.status !== 0) {
    rmSync(partial, { force: true });
    return { skipped: `${compiler} failed: ${compiled.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  }
  renameSync(partial, addonPath);
  return { addonPath, built: true };
}

/** The addon, if it was built and loads in this Node. */
export function loadIsolateWatchdog(root = projectRoot()): IsolateWatchdogLoad {
  const addonPath = isolateWatchdogAddonPath(root);
  if (!existsSync(addonPath)) return { unavailable: `not built (no ${path.relative(root, addonPath)}: npm run build makes it)` };
  try {
    const addon = createRequire(__filename)(addonPath) as IsolateWatchdogAddon;
    if (typeof addon.guardedCall !== 'function') return { unavailable: `${addonPath} has no guardedCall` };
    return { addonPath, addon };
  } catch (error) {
    return { unavailable: `${addonPath} does not load: ${(error as Error).message}` };
  }
}

/** The include/node folder whose node_version.h names this Node's major. */
function nodeHeaders(root: string): string | undefined {
  const candidates = [
    path.resolve(process.execPath, '..', '..', 'include', 'node'),
    // The `node` devDependency's binary comes from node-<platform>-<arch>, nested or hoisted.
    path.join(root, 'node_modules', 'node', 'node_modules', `node-${process.platform}-${process.arch}`, 'include', 'node'),
    path.join(root, 'node_modules', `node-${process.platform}-${process.arch}`, 'include', 'node'),
  ];
  const major = process.versions.node.split('.')[0];
  return candidates.find((dir) => {
    const versionFile = path.join(dir, 'node_version.h');
    return existsSync(versionFile) && new RegExp(`#define NODE_MAJOR_VERSION ${major}\\b`).test(readFileSync(versionFile, 'utf8'));
  });
}
