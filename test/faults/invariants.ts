import { EVENT_TYPES } from '../../domain/events';
import type { ResolvedConfig } from '../../config';
import type { Db } from '../../store/db';
import { waitFor } from '../../stack/wait';
import { collectKafka } from '../support/kafka-collector';
import { TERMINAL } from '../support/api-client';

/** What the invariants are checked on: the service's database and its Kafka (a test's service, or the soak's). */
export interface FaultSubject {
  db: Db;
  config: Pick<ResolvedConfig, 'kafka'>;
}

/** A load with a fault beside it: the executions submitted, and when the fault began and ended. */
export interface FaultRun {
  ids: string[];
  /** Executions submitted and not yet terminal the moment the fault was injected. */
  inFlightAtFault: number;
  faultStartedAt: number;
  /** When the fault was over (the dependency back, the process replaced). */
  recoveredAt: number;
  /** When the last execution was submitted. */
  loadEndedAt: number;
}

/** What the fault harness found after the load and the fault: every field should read "nothing lost, nothing twice". */
export interface FaultReport {
  executions: number;
  inFlightAtFault: number;
  byStatus: Record<string, number>;
  /** Executions that did not reach a terminal state before the deadline. */
  unfinished: string[];
  /** Executions with more than one terminal transition, or a transition written twice. */
  duplicatedTransitions: string[];
  /** Outbox rows of these executions, and how many of them are not published (dead letters included). */
  events: number;
  unpublished: number;
  /** Events published to a topic before a fault deleted it (gone with the topic; not counted below). */
  lostWithTopic: number;
  /** Events that should be in Kafka (every outbox row but the dead letters) and how many distinct event_ids are. */
  eventsExpected: number;
  eventsSeen: number;
  /** Dead-lettered outbox rows, and their records on the `<type>.dlq` topics. */
  deadLetters: number;
  dlqRecords: number;
  /** Events whose event_id never reached Kafka (dead letters not counted). */
  missingFromKafka: string[];
  /** Kafka messages beyond one per event_id (at least once allows them, with the same id). */
  kafkaDuplicates: number;
  /**
   * Executions whose events went out of their sequence order: by the outbox's publish times, or by the first
   * Kafka timestamp of each event (what a consumer of the topics sees).
   */
  publishedOutOfOrder: string[];
  capacityHeld: number;
  /**
   * From the end of the fault — or of the load, when that came later — until every execution ended and every
   * event was settled, ms.
   */
  drainMs: number;
}

/** A topic deleted by the fault: events published to it until `until` (ms) went with it. */
export interface LostWithTopic {
  topic: string;
  until: number;
}

const deadlineFor = (ms: number) => ({ deadlineMs: ms, intervalMs: 250 });

/**
 * Waits for the executions to end and their events to settle (each with a deadline), then checks the
 * invariants that must hold whatever fault happened: one terminal state each, every event in Kafka once per
 * event_id and in order, no row twice, all capacity free; and counts the dead letters.
 */
export async function checkInvariants(subject: FaultSubject, run: FaultRun, deadlineMs = 120_000, lostWith: readonly LostWithTopic[] = []): Promise<FaultReport> {
  const { db } = subject;
  const ids = run.ids;
  const unfinishedNow = async () => {
    const rows = await db.execution.findMany({ where: { id: { in: [...ids] } }, select: { id: true, status: true } });
    return ids.filter((id) => !TERMINAL.includes(rows.find((r) => r.id === id)?.status ?? 'missing'));
  };
  await waitFor('every execution to end', async () => ((await unfinishedNow()).length === 0 ? true : undefined), deadlineFor(deadlineMs)).catch(() => undefined);
  const pending = () => db.outboxEvent.count({ where: { executionId: { in: [...ids] }, state: 'pending' } });
  await waitFor('every event relayed', async () => ((await pending()) === 0 ? true : undefined), deadlineFor(deadlineMs)).catch(() => undefined);
  const drainMs = Math.max(0, Date.now() - Math.max(run.recoveredAt, run.loadEndedAt));

  const executions = await db.execution.findMany({ where: { id: { in: [...ids] } }, select: { id: true, status: true } });
  const byStatus: Record<string, number> = {};
  for (const e of executions) byStatus[e.status] = (byStatus[e.status] ?? 0) + 1;
  const transitions = await db.executionTransition.findMany({ where: { executionId: { in: [...ids] } }, select: { executionId: true, toStatus: true } });
  const duplicatedTransitions = ids.filter((id) => {
    const to = transitions.filter((t) => t.executionId === id).map((t) => t.toStatus);
    return new Set(to).size !== to.length || to.filter((s) => TERMINAL.includes(s)).length > 1;
  });
  const outbox = await db.outboxEvent.findMany({ where: { executionId: { in: [...ids] } }, orderBy: [{ executionId: 'asc' }, { sequence: 'asc' }] });
  const dead = outbox.filter((o) => o.state === 'dead');
  // Events a deleted topic took with it are neither required nor forbidden in Kafka.
  const lost = (o: (typeof outbox)[number]) => lostWith.some((l) => o.eventType === l.topic && o.publishedAt !== null && o.publishedAt.getTime() <= l.until);
  const expected = outbox.filter((o) => o.state !== 'dead' && !lost(o));

  const topics = [...EVENT_TYPES, ...EVENT_TYPES.map((t) => `${t}.dlq`)];
  const kafka = await collectKafka(subject.config.kafka.brokers ?? [], topics);
  const idSet = new Set(ids);
  const ours = () => kafka.messages.filter((m) => idSet.has(m.key) && !m.topic.endsWith('.dlq'));
  /** event_id → the earliest producer timestamp it was seen with. */
  const firstSeen = () => {
    const seen = new Map<string, number>();
    for (const m of ours()) {
      const id = (JSON.parse(m.value) as { event_id: string }).event_id;
      seen.set(id, Math.min(seen.get(id) ?? Infinity, m.timestamp));
    }
    return seen;
  };
  const published = expected.filter((o) => o.state === 'published').map((o) => o.id);
  const dlqRecords = () => kafka.messages.filter((m) => m.topic.endsWith('.dlq') && idSet.has(m.key)).length;
  await waitFor('the published events and dead letters in Kafka', async () => {
    const seen = firstSeen();
    return published.every((id) => seen.has(id)) && dlqRecords() >= dead.length ? true : undefined;
  }, { deadlineMs: 30_000, intervalMs: 250 }).catch(() => undefined);
  const seen = firstSeen();
  const duplicates = ours().length - seen.size;
  const dlq = dlqRecords();
  await kafka.close();

  const publishedOutOfOrder = ids.filter((id) => {
    const rows = expected.filter((o) => o.executionId === id && o.state === 'published');
    const outOfOrder = (times: number[]) => times.some((t, i) => i > 0 && t < times[i - 1]!);
    return outOfOrder(rows.map((o) => o.publishedAt!.getTime())) || outOfOrder(rows.map((o) => seen.get(o.id) ?? Infinity));
  });

  return {
    executions: ids.length,
    inFlightAtFault: run.inFlightAtFault,
    byStatus,
    unfinished: await unfinishedNow(),
    duplicatedTransitions,
    events: outbox.length,
    unpublished: outbox.filter((o) => o.state !== 'published').length,
    lostWithTopic: outbox.filter(lost).length,
    eventsExpected: expected.length,
    eventsSeen: expected.filter((o) => seen.has(o.id)).length,
    deadLetters: dead.length,
    dlqRecords: dlq,
    missingFromKafka: expected.map((o) => o.id).filter((id) => !seen.has(id)),
    kafkaDuplicates: duplicates,
    publishedOutOfOrder,
    capacityHeld: await db.capacityReservation.count(),
    drainMs,
  };
}

/** Executions of these ids not yet terminal. */
export async function countInFlight(db: Db, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return db.execution.count({ where: { id: { in: [...ids] }, status: { notIn: TERMINAL as never } } });
}

/**
 * Submits `count` executions one every `everyMs`, while `fault` runs beside them from `faultAfterMs`; `fault`
 * returns once the fault is over (that moment starts the drain clock), with the executions in flight when it
 * struck if that was not when it began.
 */
export async function loadWithFault(
  subject: FaultSubject,
  submit: (i: number) => Promise<string>,
  opts: { count: number; everyMs: number; faultAfterMs: number; fault: (inFlightNow: () => Promise<number>) => Promise<void | { inFlight: number }> },
): Promise<FaultRun> {
  const ids: string[] = [];
  let inFlightAtFault = 0;
  let faultStartedAt = 0;
  let recoveredAt = 0;
  const faulted = (async () => {
    await new Promise((r) => setTimeout(r, opts.faultAfterMs));
    inFlightAtFault = await countInFlight(subject.db, ids);
    faultStartedAt = Date.now();
    // A fault that strikes later than it begins (a kill at the right moment) reports the in-flight count then.
    const struck = await opts.fault(() => countInFlight(subject.db, ids));
    if (struck) inFlightAtFault = struck.inFlight;
    recoveredAt = Date.now();
  })();
  for (let i = 0; i < opts.count; i++) {
    ids.push(await submit(i));
    await new Promise((r) => setTimeout(r, opts.everyMs));
  }
  const loadEndedAt = Date.now();
  await faulted;
  return { ids, inFlightAtFault, faultStartedAt, recoveredAt, loadEndedAt };
}

/** One line of the faults table (README "Faults"): the figures the issue asks each fault test to report. */
export function reportLine(fault: string, r: FaultReport): string {
  const terminal = Object.entries(r.byStatus).map(([status, n]) => `${status} ${n}`).join(', ');
  return `| ${fault} | ${r.executions} | ${r.inFlightAtFault} | ${terminal} | ${r.eventsExpected} / ${r.eventsSeen} | ${r.kafkaDuplicates} | ${r.publishedOutOfOrder.length} | ${r.deadLetters} (${r.dlqRecords} on .dlq) | ${(r.drainMs / 1000).toFixed(1)} s |`;
}

/**
 * Asserts the invariants after a fault. `endings` are the terminal states allowed: `completed` only, unless
 * the fault may outlast a pre-run step's retry preset, which ends that saga in `error` (the script never ran).
 * `deadLetters` is how many dead letters the fault must leave (a poison message: 1; anything else: 0).
 */
export async function expectNothingLost(
  subject: FaultSubject,
  fault: string,
  run: FaultRun,
  opts: { endings?: readonly string[]; deadlineMs?: number; deadLetters?: number; lostWith?: readonly LostWithTopic[] } = {},
): Promise<FaultReport> {
  const report = await checkInvariants(subject, run, opts.deadlineMs, opts.lostWith);
  console.log(`fault report (${fault}): ${JSON.stringify(report)}\n${reportLine(fault, report)}`);
  const deadLetters = opts.deadLetters ?? 0;
  expect(new Set(run.ids).size).toBe(run.ids.length);
  expect(report).toMatchObject({
    unfinished: [],
    duplicatedTransitions: [],
    unpublished: deadLetters,
    deadLetters,
    dlqRecords: deadLetters,
    missingFromKafka: [],
    publishedOutOfOrder: [],
    capacityHeld: 0,
  });
  expect(report.eventsSeen).toBe(report.eventsExpected);
  const endings = opts.endings ?? ['completed'];
  expect(Object.keys(report.byStatus).filter((s) => !endings.includes(s))).toEqual([]);
  return report;
}
