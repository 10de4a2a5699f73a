import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../webhooks/signature';

export interface ReceivedWebhook {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The signature checked against the secret the receiver holds at arrival. */
  verified: boolean;
  /** `performance.now()` at arrival. */
  at: number;
}

/** How the receiver answers a request: a status, or `hang` (keep it open until {@link WebhookReceiver.release}). */
export type Answer = number | 'hang';

/**
 * A real HTTP receiver in the test process, as a customer would run one: it verifies each webhook's
 * signature (Standard Webhooks) with the secret it was given, records it, and answers as the path's script says.
 */
export async function startWebhookReceiver(host = '127.0.0.1') {
  const received: ReceivedWebhook[] = [];
  const scripts = new Map<string, Answer[]>();
  const hanging: http.ServerResponse[] = [];
  let secret = '';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '/';
      const headers = { 'webhook-id': req.headers['webhook-id'] as string, 'webhook-timestamp': req.headers['webhook-timestamp'] as string, 'webhook-signature': req.headers['webhook-signature'] as string };
      received.push({ path, headers: req.headers, body, verified: secret !== '' && verifyWebhook(secret, headers, body), at: performance.now() });
      const script = scripts.get(path) ?? [];
      const answer = script.length > 1 ? script.shift()! : (script[0] ?? 200);
      if (answer === 'hang') hanging.push(res);
      else res.writeHead(answer).end();
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: (path: string) => `http://${host}:${port}${path}`,
    port,
    received,
    receivedAt: (path: string) => received.filter((r) => r.path === path),
    /** Answers in turn for `path` (the last one repeats). */
    script(path: string, answers: Answer[]) {
      scripts.set(path, [...answers]);
    },
    useSecret(value: string) {
      secret = value;
    },
    /** Answers every hanging request with `status`. */
    release(status = 200) {
      for (const res of hanging.splice(0)) res.writeHead(status).end();
    },
    hangingCount: () => hanging.length,
    async close() {
      for (const res of hanging.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;
