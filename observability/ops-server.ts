import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { once } from 'node:events';
import { Registry } from 'prom-client';
import type { Logger } from './logger';
import { coerceError } from './logger';

export interface Readiness {
  ready: boolean;
  checks: Record<string, unknown>;
}

export interface OpsServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  log: Logger;
  /** The Prometheus text of this process. */
  metrics: () => Promise<string>;
  /** What `/readyz` reports; not ready answers 503. */
  readiness: () => Promise<Readiness>;
}

export interface OpsServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/**
 * The ops endpoints of a worker or relay run alone (OPS_HOST:OPS_PORT): `GET /healthz` (the process
 * serves), `GET /readyz` (its dependencies, 200 or 503) and `GET /metrics` (Prometheus text). No auth: bind
 * it where only the scraper and the kubelet reach it.
 */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = async () => {
      if (req.method !== 'GET') return res.writeHead(405, { allow: 'GET' }).end();
      if (path === '/healthz') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      if (path === '/readyz') {
        const { ready, checks } = await opts.readiness();
        return res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ready ? 'ready' : 'not ready', checks }));
      }
      if (path === '/metrics') return res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE }).end(await opts.metrics());
      return res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'not found' }));
    };
    answer().catch((err: unknown) => {
      opts.log.error({ err: coerceError(err), path }, 'ops endpoint failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.listen(opts.port, opts.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    // Two processes run alone on one host (a worker and a relay) need a port each.
    throw new Error(`the ops server cannot bind ${opts.host}:${opts.port} (OPS_HOST, OPS_PORT): ${(err as Error).message}`, { cause: err });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
  opts.log.info({ url }, 'ops server listening (/healthz, /readyz, /metrics)');
  return {
    server,
    url,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
