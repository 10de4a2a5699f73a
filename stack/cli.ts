import path from 'node:path';
import { ALL_STACK_PARTS, downPart, OPTIONAL_STACK_PARTS, STACK_PARTS, statusPart, upPart, type PartStatus, type StackPart } from './index';
import { formatMs } from './wait';

// tsx stack/cli.ts up|down|status [part...]   (no parts: up starts the default parts, down and status cover all)

const USAGE = `usage: tsx stack/cli.ts up|down|status [${ALL_STACK_PARTS.join('|')}...]  (kubernetes starts only when named)`;

function shortPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') ? relative : file;
}

function line(part: StackPart, state: string, status: PartStatus, detail: string): string {
  const width = Math.max(...ALL_STACK_PARTS.map((p) => p.length));
  return [part.padEnd(width), state.padEnd(9), status.endpoint, detail, `log: ${shortPath(status.logFile)}`]
    .filter(Boolean)
    .join('  ');
}

function parseParts(args: string[], byDefault: readonly StackPart[]): StackPart[] {
  const unknown = args.filter((a) => !(ALL_STACK_PARTS as readonly string[]).includes(a));
  if (unknown.length > 0) throw new Error(`unknown part(s): ${unknown.join(', ')}\n${USAGE}`);
  const wanted = args.length === 0 ? byDefault : (args as StackPart[]);
  return ALL_STACK_PARTS.filter((p) => wanted.includes(p));
}

async function upCommand(parts: StackPart[]): Promise<boolean> {
  // The parts don't depend on each other, so they start together; results print in order.
  const results = await Promise.allSettled(
    parts.map((part) => upPart(part, { log: (text) => console.error(`[${part}] ${text}`) })),
  );
  let ok = true;
  results.forEach((result, i) => {
    const part = parts[i] as StackPart;
    if (result.status === 'fulfilled') {
      const r = result.value;
      const detail = r.alreadyRunning
        ? `(already running${r.pid ? `, pid ${r.pid}` : ', not started by this stack'})`
        : `(started in ${formatMs(r.startedInMs)}, pid ${r.pid})`;
      console.log(line(part, 'up', r, detail));
    } else {
      ok = false;
      const reason: unknown = result.reason;
      console.error(`${part}  FAILED\n${reason instanceof Error ? reason.message : String(reason)}`);
    }
  });
  return ok;
}

async function downCommand(parts: StackPart[]): Promise<boolean> {
  let ok = true;
  for (const part of [...parts].reverse()) {
    const started = Date.now();
    try {
      const before = await statusPart(part);
      await downPart(part);
      const detail = before.pid
        ? `(pid ${before.pid} stopped in ${formatMs(Date.now() - started)})`
        : before.running
          ? '(not started by this stack: left running)'
          : '(was not running)';
      console.log(line(part, 'down', before, detail));
    } catch (err) {
      ok = false;
      console.error(`${part}  FAILED to stop: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return ok;
}

async function statusCommand(parts: StackPart[]): Promise<boolean> {
  const statuses = await Promise.all(parts.map((part) => statusPart(part)));
  for (const s of statuses) {
    const state = s.healthy ? 'healthy' : s.running ? 'unhealthy' : 'down';
    const detail = s.pid ? `pid ${s.pid}` : s.running ? '(not started by this stack)' : '';
    console.log(line(s.part, state, s, detail));
  }
  // An optional part (kubernetes) that is simply not running is not a failure of a bare `status`.
  return statuses.every((s) => s.healthy || (!s.running && (OPTIONAL_STACK_PARTS as readonly string[]).includes(s.part) && parts.length > 1));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const commands: Record<string, (parts: StackPart[]) => Promise<boolean>> = {
    up: upCommand,
    down: downCommand,
    status: statusCommand,
  };
  const run = command ? commands[command] : undefined;
  if (!run) {
    console.error(USAGE);
    return 2;
  }
  // A bare `up` starts what `npm start` uses; a bare `down` or `status` also covers the optional parts.
  return (await run(parseParts(rest, command === 'up' ? STACK_PARTS : ALL_STACK_PARTS))) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
