import { EVENT_TYPES } from '../../domain/events';
import type { RunningService } from '../support/harness';
import { waitFor } from '../support/harness';
import { collectKafka } from '../support/kafka-collector';
import { TERMINAL } from '../support/api-client';

/** What the fault harness found after the load and the fault: every field should read "nothing lost, nothing twice". */
export interface FaultReport {
  executions: number;
  byStatus: Record<string, number>;
  /** Executions that did not reach a terminal state before the deadline. */
  unfinished: string[];
  /** Executions with more than one terminal transition, or a transition written twice. */
  duplicatedTransitions: string[];
  /** Outbox rows of these executions, and how many of them are not published. */
  events: number;
  unpublished: number;
  deadLetters: number;
  /** Events whose event_id never reached Kafka. */
  missingFromKafka: string[];
  /** Kafka messages beyond one per event_id (at least once allows them, with the same id). */
  kafkaDuplicates: number;
  /** Executions whose events were published out of their sequence order. */
  publishedOutOfOrder: string[];
  capacityHeld: number;
}

/**
 * Waits for the executions to end and their events to reach Kafka (each with a deadline), then checks the
 * invariants that must hold whatever fault happened: one terminal state each, every event in Kafka once per
 * event_id and in order, no row twice, all capacity free, no dead letter.
 */
export async function checkInvariants(service: RunningService, ids: readonly string[], deadlineMs = 120_000): Promise<FaultReport> {
  const { db } = service;
  const unfinishedNow = async () => {
    const rows = await db.execution.findMany({ where: { id: { in: [...ids] } }, select: { id: true, status: true } });
    return ids.filter((id) => !TERMINAL.includes(rows.find((r) => r.id === id)?.status ?? 'missing'));
  };
  await waitFor('every execution to end', async () => ((await unfinishedNow()).length === 0 ? true : undefined), { deadlineMs, intervalMs: 250 }).catch(() => undefined);
  const pending = () => db.outboxEvent.count({ where: { executionId: { in: [...ids] }, state: 'pending' } });
  await waitFor('every event relayed', async () => ((await pending()) === 0 ? true : undefined), { deadlineMs, intervalMs: 250 }).catch(() => undefined);

  const executions = await db.execution.findMany({ where: { id: { in: [...ids] } }, select: { id: true, status: true } });
  const byStatus: Record<string, number> = {};
  for (const e of executions) byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
  const transitions = await db.executionTransition.findMany({ where: { executionId: { in: [...ids] } }, select: { executionId: true, toStatus: true } });
  const duplicatedTransitions = ids.filter((id) => {
    const to = transitions.filter((t) => t.executionId === id).map((t) => t.toStatus);
    return new Set(to).size !== to.length || to.filter((s) => TERMINAL.includes(s)).length > 1;
  });
  const outbox = await db.outboxEvent.findMany({ where: { executionId: { in: [...ids] } }, orderBy: [{ executionId: 'asc' }, { sequence: 'asc' }] });
  const publishedOutOfOrder = ids.filter((id) => {
    const times = outbox.filter((o) => o.executionId === id).map((o) => o.publishedAt?.getTime() ?? Infinity);
    return times.some((t, i) => i > 0 && t < times[i - 1]!);
  });

  const kafka = await collectKafka(service.config.kafka.brokers ?? [], [...EVENT_TYPES]);
  const idsOf = () => new Map(kafka.messages.filter((m) => ids.includes(m.key)).map((m) => [(JSON.parse(m.value) as { event_id: string }).event_id, m]));
  const published = outbox.filter((o) => o.state === 'published').map((o) => o.id);
  await waitFor('the published events in Kafka', async () => (published.every((id) => idsOf().has(id)) ? true : undefined), { deadlineMs: 30_000, intervalMs: 250 }).catch(() => undefined);
  const seen = idsOf();
  const ours = kafka.messages.filter((m) => ids.includes(m.key)).length;
  await kafka.close();

  return {
    executions: ids.length,
    byStatus,
    unfinished: await unfinishedNow(),
    duplicatedTransitions,
    events: outbox.length,
    unpublished: outbox.filter((o) => o.state !== 'published').length,
    deadLetters: outbox.filter((o) => o.state === 'dead').length,
    missingFromKafka: outbox.map((o) => o.id).filter((id) => !seen.has(id)),
    kafkaDuplicates: ours - seen.size,
    publishedOutOfOrder,
    capacityHeld: await db.capacityReservation.count(),
  };
}

/** Submits `count` trivial executions one every `everyMs`, while `fault` runs beside them from `faultAfterMs`. */
export async function loadWithFault(
  submit: () => Promise<string>,
  opts: { count: number; everyMs: number; faultAfterMs: number; fault: () => Promise<void> },
): Promise<string[]> {
  const ids: string[] = [];
  const faulted = (async () => {
    await new Promise((r) => setTimeout(r, opts.faultAfterMs));
    await opts.fault();
  })();
  for (let i = 0; i < opts.count; i++) {
    ids.push(await submit());
    await new Promise((r) => setTimeout(r, opts.everyMs));
  }
  await faulted;
  return ids;
}

/**
 * Asserts the invariants after a fault. `endings` are the terminal states allowed: `completed` only, unless
 * the fault may outlast a pre-run step's retry preset, which ends that saga in `error` (the script never ran).
 */
export async function expectNothingLost(service: RunningService, ids: readonly string[], opts: { endings?: readonly string[]; deadlineMs?: number } = {}): Promise<FaultReport> {
  const report = await checkInvariants(service, ids, opts.deadlineMs);
  console.log(`fault report: ${JSON.stringify(report)}`);
  expect(new Set(ids).size).toBe(ids.length);
  expect(report).toMatchObject({ unfinished: [], duplicatedTransitions: [], unpublished: 0, deadLetters: 0, missingFromKafka: [], publishedOutOfOrder: [], capacityHeld: 0 });
  const endings = opts.endings ?? ['completed'];
  expect(Object.keys(report.byStatus).filter((s) => !endings.includes(s))).toEqual([]);
  return report;
}
