import fs from 'node:fs';
import net from 'node:net';
import { HOST, partDataDir, stackEndpoints, stackPorts } from './paths';
import type { PartDefinition, ReadyContext } from './part';
import { isPortOpen } from './port';
import { waitFor } from './wait';

// Redis from Debian's redis-server package, for the API's shared rate limits: loopback only,
// no persistence (counters that last seconds to a minute are not worth a disk write).

const REDIS_SERVER = '/usr/bin/redis-server';

const dataDir = (): string => partDataDir('redis');

/** Sends PING over a plain TCP connection; resolves with what is wrong, or undefined on +PONG. */
export function pingRedis(host: string, port: number, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let answer = '';
    const done = (problem: string | undefined): void => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer to PING in ${timeoutMs} ms`));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8');
      if (!answer.includes('\r\n')) return;
      done(answer.startsWith('+PONG') ? undefined : `unexpected answer to PING: ${answer.trim()}`);
    });
    socket.once('error', (err) => done(err.message));
  });
}

export const redis: PartDefinition = {
  part: 'redis',
  endpoint: () => stackEndpoints().redisUrl,
  get marker() {
    return dataDir();
  },
  startDeadlineMs: 20_000,
  stopDeadlineMs: 10_000,
  stopSignal: 'SIGTERM',

  prepare() {
    if (!fs.existsSync(REDIS_SERVER)) return Promise.reject(new Error(`no ${REDIS_SERVER} (apt-get install redis-server)`));
    fs.mkdirSync(dataDir(), { recursive: true });
    return Promise.resolve();
  },

  serverCommand() {
    const args = [
      '--bind', HOST,
      '--port', String(stackPorts().redis),
      '--dir', dataDir(),
      // Keeps the command line (our marker) instead of Redis' own process title.
      '--set-proc-title', 'no',
      '--save', '',
      '--appendonly', 'no',
      '--daemonize', 'no',
      '--protected-mode', 'yes',
      '--loglevel', 'warning',
    ];
    return { command: REDIS_SERVER, args, cwd: dataDir() };
  },

  async waitUntilReady(ctx: ReadyContext) {
    const port = stackPorts().redis;
    await waitFor(`redis to answer PING on ${HOST}:${port}`, async () => (await pingRedis(HOST, port)) === undefined, {
      deadlineMs: ctx.remainingMs(),
      giveUp: ctx.giveUp,
      intervalMs: 100,
    });
  },

  checkHealth: () => pingRedis(HOST, stackPorts().redis),

  portInUse: () => isPortOpen(HOST, stackPorts().redis),
};
