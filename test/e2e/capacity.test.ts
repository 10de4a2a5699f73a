import { readFileSync } from 'node:fs';
import { apiClient, TERMINAL } from '../support/api-client';
import { serviceForThisFile, waitFor } from '../support/harness';
import { pidsOfRun } from '../support/processes';

const ctx = serviceForThisFile({ CAPACITY_GLOBAL: '2', CAPACITY_PER_OWNER: '2' });

/** Capacity is released after the terminal transition (the saga's last step): wait for it, with a deadline. */
const capacityFree = () => waitFor('all capacity to be released', async () => ((await ctx.service.db.capacityReservation.count()) === 0 ? true : undefined), { deadlineMs: 10_000 });

test('with capacity 2, ten submissions from two owners never run more than 2 at once, and the owners alternate', async () => {
  // Every run waits for a barrier, so all ten are queued before the first slot frees, however slow the
  // machine. Runs are sandboxed (no host file to wait for): the barrier is a SIGUSR1 to the script's bash.
  const script = { language: 'bash', script: `go=0; trap 'go=1' USR1; while [ $go = 0 ]; do sleep 0.05; done; sleep 0.3` };
  let barrierOpen = false;
  const signalScripts = (id: string) => {
    for (const pid of pidsOfRun(id)) {
      try {
        // Only once bash has its trap (SIGUSR1 in SigCgt): before that the signal would kill it.
        const caught = /^SigCgt:\s+([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0';
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'bash' && (BigInt(`0x${caught}`) & 0x200n) !== 0n) process.kill(pid, 'SIGUSR1');
      } catch {
        // exited meanwhile: it had passed the barrier
      }
    }
  };
  const grants = new Map<string, number>();
  let sampling = true;
  // The order slots were granted in, read off the queue as it changes (grant time is stamped in the row).
  const sampler = (async () => {
    while (sampling) {
      for (const r of await ctx.service.db.capacityReservation.findMany({ where: { state: 'holding' } })) {
        grants.set(r.executionId, r.grantedAt!.getTime());
        if (barrierOpen) signalScripts(r.executionId);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  const ids: string[] = [];
  try {
    for (const owner of ['alice', 'bob']) {
      const asOwner = apiClient(ctx.service.api.url, await ctx.service.userKey(owner));
      for (let i = 0; i < 5; i++) ids.push((await asOwner.submit(script)).json.id);
    }
    await waitFor('eight executions waiting for capacity', async () => ((await ctx.service.db.capacityReservation.count({ where: { state: 'waiting' } })) === 8 ? true : undefined));
    const lastBob = ids.at(-1)!;
    const queued = await ctx.service.temporal.workflow.getHandle(lastBob).query<{ step: string; capacityPosition: number | null }>('sagaState');
    expect(queued.step).toBe('reserving_capacity');
    expect(queued.capacityPosition).toBeGreaterThan(0);
    barrierOpen = true;

    await Promise.all(ids.map((id) => ctx.api.waitForStatus(id, (s) => TERMINAL.includes(s), 60_000)));
  } finally {
    // Also when the test fails: a sampler left running would query the database after the service stops.
    sampling = false;
    await sampler;
  }
  const runs = await ctx.service.db.execution.findMany({ where: { id: { in: ids } } });
  expect(runs.every((r) => r.status === 'completed')).toBe(true);

  // Sweep the run intervals: at no instant more than 2 scripts ran.
  const edges = runs.flatMap((r) => [[r.startedAt!.getTime(), 1], [r.finishedAt!.getTime(), -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let peak = 0;
  for (const [, delta] of edges) peak = Math.max(peak, (running += delta));
  expect(peak).toBe(2);

  // Alice's five were queued first and took both free slots; from then on slots go to the owners in turn.
  const ownerOf = new Map(runs.map((r) => [r.id, r.ownerId]));
  expect(grantOrderOf(grants, ownerOf)).toEqual(['alice', 'alice', 'bob', 'alice', 'bob', 'alice', 'bob', 'alice', 'bob', 'bob']);
  await capacityFree();
}, 90_000);

test('capacity is released on failure and timeout as well as success', async () => {
  const outcomes = await Promise.all(
    [
      { language: 'bash', script: 'exit 4' },
      { language: 'python', script: 'import time; time.sleep(10)', limits: { wallTimeMs: 500 } },
      { language: 'node', script: 'console.log(1)' },
    ].map(async (body) => ctx.api.waitForStatus((await ctx.api.submit(body)).json.id, (s) => TERMINAL.includes(s))),
  );
  expect(outcomes.map((o) => o.status)).toEqual(['failed', 'timed_out', 'completed']);
  await capacityFree();
}, 60_000);

/**
 * The owners in the order their slots were granted. Two runs that end together free their slots a few ms apart,
 * and the grant stamps have millisecond precision: grants stamped in the same millisecond have no order the rows
 * can tell, so within one the owner not granted just before is put first, as the queue's round robin orders them.
 */
function grantOrderOf(grants: Map<string, number>, ownerOf: Map<string, string>): string[] {
  const byTime = [...grants.entries()].map(([id, at]) => ({ owner: ownerOf.get(id)!, at })).sort((a, b) => a.at - b.at);
  const order: string[] = [];
  for (let i = 0; i < byTime.length; ) {
    let end = i;
    while (end < byTime.length && byTime[end]!.at === byTime[i]!.at) end++;
    const tied = byTime.slice(i, end).map((g) => g.owner);
    while (tied.length > 0) {
      const other = tied.findIndex((owner) => owner !== order.at(-1));
      order.push(...tied.splice(Math.max(other, 0), 1));
    }
    i = end;
  }
  return order;
}
