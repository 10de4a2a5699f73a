import fs from 'node:fs';
import path from 'node:path';
import { SEARCH_ATTRIBUTE_NAMES } from '../domain/search-attributes';
import { temporalInBack } from './back-cpu-group';
import { HOST, partDataDir, stackEndpoints, stackPorts, temporalSqlitePragmas, uiCodecEndpoint } from './paths';
import type { PartDefinition, ReadyContext } from './part';
import { isPortOpen } from './port';
import { runChecked } from './process';
import { ensureTemporalBinary, temporalBinary } from './temporal-binary';
import { waitFor } from './wait';

// The Temporal dev server (`temporal server start-dev`): frontend, history, matching,
// SQLite persistence and the Web UI in one process.

/** Custom search attributes the orchestrator's workflows set (all Keyword). */
export const TEMPORAL_SEARCH_ATTRIBUTES = Object.values(SEARCH_ATTRIBUTE_NAMES);

export const TEMPORAL_NAMESPACE = 'default';
const NAMESPACE = TEMPORAL_NAMESPACE;

function databaseFile(): string {
  return path.join(partDataDir('temporal'), 'temporal.db');
}

/** Runs a `temporal` client command against our server; the flags win over TEMPORAL_* env and config files. */
export function temporalCli(args: string[], timeoutMs = 10_000): Promise<string> {
  const address = stackEndpoints().temporalAddress;
  return runChecked(
    temporalBinary(),
    [...args, '--address', address, '--command-timeout', `${Math.ceil(timeoutMs / 1000)}s`, '-o', 'json'],
    { timeoutMs: timeoutMs + 5000 },
  );
}

export async function serving(): Promise<boolean> {
  const out = await temporalCli(['operator', 'cluster', 'health']);
  return (JSON.parse(out) as { status?: string }).status === 'SERVING';
}

export async function missingSearchAttributes(): Promise<string[]> {
  const out = await temporalCli(['operator', 'search-attribute', 'list', '--namespace', NAMESPACE]);
  const listed = JSON.parse(out) as { customAttributes?: Record<string, string> };
  const custom = listed.customAttributes ?? {};
  return TEMPORAL_SEARCH_ATTRIBUTES.filter((name) => custom[name] !== 'INDEXED_VALUE_TYPE_KEYWORD');
}

export async function registerSearchAttributes(ctx: Pick<ReadyContext, 'log'>): Promise<void> {
  for (const name of await missingSearchAttributes()) {
    ctx.log(`registering search attribute ${name} (Keyword)`);
    try {
      await temporalCli(['operator', 'search-attribute', 'create', '--namespace', NAMESPACE, '--name', name, '--type', 'Keyword']);
    } catch (err) {
      // Registered meanwhile by the server itself: fine. Anything else shows in the next check.
      if (!/already exists/i.test(String(err))) ctx.log(`registering ${name} failed: ${String(err)}`);
    }
  }
}

export const temporal: PartDefinition = {
  part: 'temporal',
  endpoint: () => stackEndpoints().temporalAddress,
  get marker() {
    return databaseFile();
  },
  startDeadlineMs: 90_000,
  stopDeadlineMs: 20_000,
  stopSignal: 'SIGTERM',
  // With deferred starts no submission waits on it (stack/back-cpu-group.ts).
  get inBack() {
    return temporalInBack();
  },

  async prepare(log, progress) {
    fs.mkdirSync(partDataDir('temporal'), { recursive: true });
    await ensureTemporalBinary(log, progress);
  },

  serverCommand() {
    const ports = stackPorts();
    const args = [
      'server', 'start-dev',
      '--ip', HOST,
      '--port', String(ports.temporal),
      '--ui-port', String(ports.temporalUi),
      '--db-filename', databaseFile(),
      '--namespace', NAMESPACE,
      '--log-level', 'warn',
      // Payloads are encrypted (payload-codec/): the UI decodes them through the API's codec endpoint.
      '--ui-codec-endpoint', uiCodecEndpoint(),
    ];
    for (const pragma of temporalSqlitePragmas()) args.push('--sqlite-pragma', pragma);
    // Registered at start (idempotent across restarts on the same database).
    for (const name of TEMPORAL_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${name}=Keyword`);
    return { command: temporalBinary(), args, cwd: partDataDir('temporal') };
  },

  async waitUntilReady(ctx: ReadyContext) {
    const { temporal: port, temporalUi: uiPort } = stackPorts();
    const opts = { giveUp: ctx.giveUp, intervalMs: 200 };
    await waitFor(`temporal to listen on ${HOST}:${port}`, () => isPortOpen(HOST, port), {
      ...opts,
      deadlineMs: ctx.remainingMs(),
    });
    await waitFor(`temporal cluster health to be SERVING on ${HOST}:${port}`, serving, {
      ...opts,
      deadlineMs: ctx.remainingMs(),
    });
    // start-dev registers them just after it starts serving; register any it did not.
    const registered = async (): Promise<boolean> => (await missingSearchAttributes()).length === 0;
    try {
      await waitFor('search attributes', registered, { ...opts, deadlineMs: Math.min(5000, ctx.remainingMs()) });
    } catch {
      await registerSearchAttributes(ctx);
    }
    await waitFor(`search attributes ${TEMPORAL_SEARCH_ATTRIBUTES.join(', ')}`, registered, {
      ...opts,
      deadlineMs: ctx.remainingMs(),
    });
    await waitFor(`the temporal Web UI on ${HOST}:${uiPort}`, () => isPortOpen(HOST, uiPort), {
      ...opts,
      deadlineMs: ctx.remainingMs(),
    });
  },

  async checkHealth() {
    try {
      if (!(await serving())) return 'cluster health is not SERVING';
      const missing = await missingSearchAttributes();
      return missing.length === 0 ? undefined : `search attributes not registered: ${missing.join(', ')}`;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  },

  async portInUse() {
    const ports = stackPorts();
    return (await isPortOpen(HOST, ports.temporal)) || (await isPortOpen(HOST, ports.temporalUi));
  },
};
