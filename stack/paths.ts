import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../project-root';

// Where the local stack keeps things, and on which loopback ports it listens.
// This module is a developer script, so it reads process.env directly.

export type StackPart = 'postgres' | 'temporal' | 'kafka' | 'redis' | 'kubernetes';

/** The parts `npm start` and a bare `stack up` bring up. */
export const STACK_PARTS: readonly StackPart[] = ['postgres', 'temporal', 'kafka', 'redis'];

/** Started only when named (`stack up kubernetes`) or by the tests that need them. */
export const OPTIONAL_STACK_PARTS: readonly StackPart[] = ['kubernetes'];

export const ALL_STACK_PARTS: readonly StackPart[] = [...STACK_PARTS, ...OPTIONAL_STACK_PARTS];

export const HOST = '127.0.0.1';

export const REPO_ROOT = projectRoot(__dirname);

/** Binaries and jars: expensive to produce, shared by every clone. */
export function cacheDir(): string {
  return process.env.EO_CACHE_DIR || path.join(os.homedir(), '.cache', 'execution-orchestrator');
}

/** Data, pid files, logs: belong to this checkout. */
export function stateDir(): string {
  return path.resolve(process.env.EO_STATE_DIR || path.join(REPO_ROOT, '.stack'));
}

export function logFile(part: StackPart): string {
  return path.join(stateDir(), 'logs', `${part}.log`);
}

export function pidFile(part: StackPart): string {
  return path.join(stateDir(), 'run', `${part}.pid`);
}

export function lockFile(name: string): string {
  return path.join(stateDir(), 'run', `${name}.lock`);
}

/** A secret of this checkout (mode 0600, in a 0700 directory). */
export function secretFile(name: string): string {
  return path.join(stateDir(), 'secrets', name);
}

/**
 * Where the local Web UI sends payloads to be decoded: the API's codec endpoint, as the browser reaches it
 * (`EO_UI_CODEC_ENDPOINT`, else the API's PORT on loopback).
 */
export function uiCodecEndpoint(): string {
  return process.env.EO_UI_CODEC_ENDPOINT || `http://${HOST}:${process.env.PORT || 3000}/codec`;
}

export function partDataDir(part: StackPart): string {
  return path.join(stateDir(), part);
}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name} must be a TCP port (1-65535), got '${raw}'`);
  }
  return port;
}

export interface StackPorts {
  postgres: number;
  temporal: number;
  temporalUi: number;
  kafka: number;
  kafkaController: number;
  redis: number;
  kubeApiserver: number;
  kubeEtcd: number;
  kubeEtcdPeer: number;
  /** kwok's kubelet-like server (pod logs). */
  kubeKwok: number;
  /** The production server's internal services (EO_TEMPORAL_SERVER=production); unused by the dev server. */
  temporalHistory: number;
  temporalMatching: number;
  temporalWorker: number;
  /** First of four consecutive membership (ringpop) ports: frontend, history, matching, worker; at most 32764 (a smallint in the schema). */
  temporalMembership: number;
}

const PORT_VARIABLES: Record<keyof StackPorts, [string, number]> = {
  postgres: ['EO_PG_PORT', 54329],
  temporal: ['EO_TEMPORAL_PORT', 7233],
  temporalUi: ['EO_TEMPORAL_UI_PORT', 8233],
  kafka: ['EO_KAFKA_PORT', 19092],
  kafkaController: ['EO_KAFKA_CONTROLLER_PORT', 19093],
  redis: ['EO_REDIS_PORT', 16379],
  kubeApiserver: ['EO_KUBE_APISERVER_PORT', 16443],
  kubeEtcd: ['EO_KUBE_ETCD_PORT', 12379],
  kubeEtcdPeer: ['EO_KUBE_ETCD_PEER_PORT', 12380],
  kubeKwok: ['EO_KUBE_KWOK_PORT', 16250],
  // Temporal's own defaults; the dev server picks its internal ports itself.
  temporalHistory: ['EO_TEMPORAL_HISTORY_PORT', 7234],
  temporalMatching: ['EO_TEMPORAL_MATCHING_PORT', 7235],
  temporalWorker: ['EO_TEMPORAL_WORKER_PORT', 7239],
  temporalMembership: ['EO_TEMPORAL_MEMBERSHIP_PORT', 6933],
};

/** The variables that move a part to other ports, and the one that replaces it with a server of your own. */
export const PART_VARIABLES: Record<StackPart, { ports: string[]; endpoint: string }> = {
  postgres: { ports: ['EO_PG_PORT'], endpoint: 'DATABASE_URL' },
  temporal: {
    ports: ['EO_TEMPORAL_PORT', 'EO_TEMPORAL_UI_PORT', 'EO_TEMPORAL_HISTORY_PORT', 'EO_TEMPORAL_MATCHING_PORT', 'EO_TEMPORAL_WORKER_PORT', 'EO_TEMPORAL_MEMBERSHIP_PORT'],
    endpoint: 'TEMPORAL_ADDRESS',
  },
  kafka: { ports: ['EO_KAFKA_PORT', 'EO_KAFKA_CONTROLLER_PORT'], endpoint: 'KAFKA_BROKERS' },
  redis: { ports: ['EO_REDIS_PORT'], endpoint: 'REDIS_URL' },
  kubernetes: { ports: ['EO_KUBE_APISERVER_PORT', 'EO_KUBE_ETCD_PORT', 'EO_KUBE_ETCD_PEER_PORT', 'EO_KUBE_KWOK_PORT'], endpoint: 'KUBERNETES_KUBECONFIG' },
};

export function stackPorts(): StackPorts {
  const ports = {} as StackPorts;
  const owners = new Map<number, string>();
  for (const [key, [variable, fallback]] of Object.entries(PORT_VARIABLES)) {
    const port = portFromEnv(variable, fallback);
    const other = owners.get(port);
    if (other) throw new Error(`${variable} and ${other} are both ${port}; each part needs its own port`);
    owners.set(port, variable);
    ports[key as keyof StackPorts] = port;
  }
  return ports;
}

export const DATABASE_NAME = 'execution_orchestrator';

/**
 * The dev server's SQLite pragmas (`EO_TEMPORAL_SQLITE_PRAGMAS`, comma-separated `name=value`; `none`: SQLite's
 * own defaults, a rollback journal and synchronous=full). The default, WAL with synchronous=normal, survives a
 * crash or kill of any process without losing a commit; only an OS crash or power cut can lose the last
 * commits (never corrupt the file), as the local Postgres (fsync=off) already may. Measured in README.md.
 * @default journal_mode=wal,synchronous=normal
 */
export function temporalSqlitePragmas(): string[] {
  const raw = process.env.EO_TEMPORAL_SQLITE_PRAGMAS ?? 'journal_mode=wal,synchronous=normal';
  if (raw.trim() === 'none') return [];
  const pragmas = raw.split(',').map((p) => p.trim()).filter(Boolean);
  const bad = pragmas.find((p) => !/^[a-z_]+=[A-Za-z0-9_]+$/.test(p));
  if (bad) throw new Error(`EO_TEMPORAL_SQLITE_PRAGMAS: '${bad}' is not name=value (e.g. journal_mode=wal,synchronous=normal)`);
  return pragmas;
}

export type TemporalFlavor = 'dev' | 'production';

/**
 * Which Temporal server the local stack runs (`EO_TEMPORAL_SERVER`): `dev`, the CLI's dev server (SQLite, one
 * process, the default), or `production`, the real server (`go.temporal.io/server`) on the local Postgres with
 * the Web UI server beside it. Read on every call, so one process (the bench) can run both in turn.
 */
export function temporalFlavor(): TemporalFlavor {
  const raw = process.env.EO_TEMPORAL_SERVER;
  if (raw === undefined || raw === '' || raw === 'dev') return 'dev';
  if (raw === 'production') return 'production';
  throw new Error(`EO_TEMPORAL_SERVER must be 'dev' or 'production', got '${raw}'`);
}

export function stackEndpoints(): {
  databaseUrl: string;
  temporalAddress: string;
  temporalUiUrl: string;
  kafkaBrokers: string;
  redisUrl: string;
} {
  const ports = stackPorts();
  return {
    databaseUrl: `postgresql://postgres@${HOST}:${ports.postgres}/${DATABASE_NAME}`,
    temporalAddress: `${HOST}:${ports.temporal}`,
    temporalUiUrl: `http://${HOST}:${ports.temporalUi}`,
    kafkaBrokers: `${HOST}:${ports.kafka}`,
    redisUrl: `redis://${HOST}:${ports.redis}`,
  };
}
