import { Router } from 'express';
import type { Client } from '@temporalio/client';
import type { Language, RunLimits } from '../../domain/runtimes';
import type { RelayStatus } from '../../relay/outbox-relay';
import type { Db } from '../../store/db';
import type { RateLimits } from '../rate-limits';
import { pingDatabase } from '../../store/db';
import { fulfilledWithin } from '../../fulfilled-within';

export interface HealthDeps {
  db: Db;
  temporal: Client;
  limitMaxima: RunLimits;
  /** The relay's state when it runs in this process (`npm start`); reported, never a reason to be unready. */
  relayStatus?: () => Readonly<RelayStatus>;
  /**
   * The interpreters installed on this host, with the versions they reported (the runner's registry,
   * runners/local/runtime-registry.ts). Without it, every language with the domain's version label.
   */
  installedRuntimes?: ReadonlyArray<{ language: Language; version: string }>;
  /** Redis behind the rate limits: down makes the API unready only when limits fail closed. */
  rateLimits: Pick<RateLimits, 'readiness'>;
}

const CHECK_TIMEOUT_MS = 2_000;

async function check(probe: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  try {
    return (await fulfilledWithin(probe(), CHECK_TIMEOUT_MS)) ? { ok: true } : { ok: false, error: `no answer in ${CHECK_TIMEOUT_MS} ms` };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

/** `/healthz` (liveness: the process serves HTTP) and `/readyz` (Postgres and Temporal answer; Redis too when limits fail closed): public. */
export function healthRoutes(deps: HealthDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  router.get('/readyz', async (_req, res) => {
    const [postgres, temporal, limits] = await Promise.all([
      check(() => pingDatabase(deps.db)),
      check(() => deps.temporal.workflowService.getSystemInfo({})),
      deps.rateLimits.readiness(),
    ]);
    const { blocksReadiness, ...redis } = limits;
    const relay = deps.relayStatus?.();
    const kafka = relay && {
      ok: relay.brokerConfigured && relay.circuit === 'closed',
      ...(relay.brokerConfigured ? {} : { note: 'no broker configured: events wait in the outbox' }),
      ...(relay.circuit === 'open' ? { note: `broker unreachable, relay paused: ${relay.lastError}` } : {}),
    };
    const ready = postgres.ok && temporal.ok && !blocksReadiness;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: { postgres, temporal, redis, ...(kafka ? { kafka } : {}) } });
  });
  return router;
}
