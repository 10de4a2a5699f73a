/** Latency summary of a sample, in ms. */
export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles. */
export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
  const round = (x: number): number => Math.round(x * 10) / 10;
  return { n: sorted.length, p50: round(at(50)), p95: round(at(95)), p99: round(at(99)), max: round(sorted.at(-1) ?? NaN) };
}

/** Runs `task` for items 0..count-1 with `concurrency` lanes; resolves with the wall time in ms. */
export async function runLanes(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) await task(i);
    }),
  );
  return performance.now() - started;
}

/** Calls `task` at a fixed rate for `durationMs`, each call timed on its own (open loop: slow answers do not slow the rate). */
export async function atFixedRate(ratePerSecond: number, durationMs: number, task: () => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  const calls: Promise<void>[] = [];
  const interval = 1000 / ratePerSecond;
  const started = performance.now();
  for (let i = 0; performance.now() - started < durationMs; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    calls.push(
      (async () => {
        const t = performance.now();
        await task();
        latencies.push(performance.now() - t);
      })(),
    );
  }
  await Promise.all(calls);
  return latencies;
}
