import type { RetentionConfig } from '../config';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import type { Db } from '../store/db';
import { deleteAuditRows, deleteDeadLetters, deleteFinishedExecutions, deletePublishedEvents } from '../store/retention';

const HOUR_MS = 3_600_000;

/** Rows one retention pass deleted, by kind. */
export interface RetentionSummary {
  publishedEvents: number;
  deadLetters: number;
  auditRows: number;
  finishedExecutions: number;
  durationMs: number;
}

/**
 * One retention pass: for each kind of row with a TTL (0 keeps it), deletes what is older, batch after batch
 * (each a short statement of at most `batchSize` rows, with a pause between them) until a batch comes back short.
 * Several passes at once (several workers) are safe: SKIP LOCKED makes them share the rows, not wait on each other.
 */
export async function runRetentionPass(db: Db, config: RetentionConfig, now = new Date(), stopped: () => boolean = () => false): Promise<RetentionSummary> {
  const began = performance.now();
  const cutoff = (hours: number) => new Date(now.getTime() - hours * HOUR_MS);
  const drain = async (hours: number, remove: (db: Db, cutoff: Date, limit: number) => Promise<number>): Promise<number> => {
    if (hours === 0) return 0;
    let total = 0;
    for (;;) {
      const deleted = await remove(db, cutoff(hours), config.batchSize);
      total += deleted;
      if (deleted < config.batchSize || stopped()) return total;
      if (config.batchPauseMs > 0) await new Promise((resolve) => setTimeout(resolve, config.batchPauseMs));
    }
  };
  // Executions first: their cascade takes most events and transitions, which the later kinds then need not scan.
  const finishedExecutions = await drain(config.finishedExecutionsHours, deleteFinishedExecutions);
  const publishedEvents = await drain(config.publishedEventsHours, deletePublishedEvents);
  const deadLetters = await drain(config.deadLettersHours, deleteDeadLetters);
  const auditRows = await drain(config.auditHours, deleteAuditRows);
  return { publishedEvents, deadLetters, auditRows, finishedExecutions, durationMs: Math.round(performance.now() - began) };
}

/**
 * Runs a retention pass every `intervalMs` (the first one interval after start, with up to 10 % jitter so the
 * workers of one deployment spread out). A failed pass is logged and the next one tries again.
 */
export function startRetention(db: Db, config: RetentionConfig, log: Logger): { stop(): Promise<void> } {
  let stopping = false;
  let current: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  const schedule = () => {
    if (stopping) return;
    timer = setTimeout(() => {
      current = runRetentionPass(db, config, new Date(), () => stopping)
        .then((s) => {
          if (s.publishedEvents + s.deadLetters + s.auditRows + s.finishedExecutions > 0) log.info({ ...s }, 'retention pass deleted expired rows');
        })
        .catch((err: unknown) => log.error({ err: coerceError(err) }, 'retention pass failed; the next pass tries again'))
        .finally(() => {
          current = null;
          schedule();
        });
    }, config.intervalMs * (1 + Math.random() * 0.1));
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      await current;
    },
  };
}
