import { formatMs } from './wait';

// The first start builds and downloads things that take minutes. A person at a terminal should
// know what is happening, that it happens once, and roughly how long it takes — not stare at
// silence. On a terminal a status line shows the elapsed time; elsewhere a line every 30 s.

export interface SlowStep {
  /** What happens, e.g. "building the Temporal CLI (go install …)". */
  what: string;
  /** A few words for the live status line, e.g. "Temporal CLI build". */
  label: string;
  /** Roughly how long it usually takes here, e.g. "3–5 min". */
  typically: string;
  /** Where the result is kept, so a person knows the next start skips it. */
  cachedIn: string;
  /** Where the step's own output goes. */
  logFile: string;
}

export interface Progress {
  /** Runs a slow, once-only step, saying what it is, how long it usually takes, and how it ended. */
  step<T>(step: SlowStep, run: () => Promise<T>): Promise<T>;
}

export interface ProgressOptions {
  /** Prints one permanent line (a log line, or stderr). */
  say(line: string): void;
  /** A terminal to draw the live status line on; none: a "still …" line every `reminderMs`. */
  tty?: NodeJS.WriteStream;
  /** @default 30000 */
  reminderMs?: number;
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const CLEAR_LINE = '\r\x1b[K';

export function createProgress(opts: ProgressOptions): Progress {
  const active = new Map<number, { what: string; label: string; startedAt: number }>();
  let nextId = 0;
  let frame = 0;
  let ticker: NodeJS.Timeout | undefined;
  const tty = opts.tty;

  const draw = (): void => {
    if (!tty || active.size === 0) return;
    const now = Date.now();
    const parts = [...active.values()].map((s) => `${s.label} ${formatMs(now - s.startedAt)}`);
    const text = `${SPINNER[frame++ % SPINNER.length]} ${parts.join(' · ')}`;
    tty.write(`${CLEAR_LINE}${text.slice(0, Math.max(20, (tty.columns || 100) - 1))}`);
  };
  const say = (line: string): void => {
    if (tty) tty.write(CLEAR_LINE);
    opts.say(line);
    draw();
  };
  const tick = (): void => {
    if (tty) return draw();
    const now = Date.now();
    for (const s of active.values()) say(`still ${s.what} (${formatMs(now - s.startedAt)} so far)`);
  };
  const startTicker = (): void => {
    ticker ??= setInterval(tick, tty ? 100 : (opts.reminderMs ?? 30_000));
    ticker.unref();
  };
  const stopTickerIfIdle = (): void => {
    if (active.size > 0 || !ticker) return;
    clearInterval(ticker);
    ticker = undefined;
    if (tty) tty.write(CLEAR_LINE);
  };

  return {
    async step(step, run) {
      const id = nextId++;
      const startedAt = Date.now();
      say(`${step.what}: once only (kept in ${step.cachedIn}), usually ${step.typically}; output in ${step.logFile}`);
      active.set(id, { what: step.what, label: step.label, startedAt });
      startTicker();
      try {
        const result = await run();
        active.delete(id);
        say(`done ${step.what} in ${formatMs(Date.now() - startedAt)}`);
        return result;
      } catch (err) {
        active.delete(id);
        // The error that follows carries the log's last lines (stack/part.ts).
        say(`FAILED ${step.what} after ${formatMs(Date.now() - startedAt)}; log: ${step.logFile}`);
        throw err;
      } finally {
        stopTickerIfIdle();
      }
    },
  };
}
