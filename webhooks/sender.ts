import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import type { AddressPolicy } from './address-policy';

/** Resolves a host name to its addresses (node's `dns.lookup`, all of them, in the resolver's order). */
export type Resolve = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

const systemResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

export interface SenderOptions {
  policy: AddressPolicy;
  /** Plain `http:` targets allowed (config WEBHOOK_ALLOW_HTTP); else only `https:`. */
  allowHttp: boolean;
  /** Whole request, connect to last byte, ms (config WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** @default the system resolver */
  resolve?: Resolve;
}

/** What one attempt came to. `refused`: the target was not allowed and nothing was sent. */
export type SendResult =
  | { kind: 'refused'; reason: string; address: string | null }
  | { kind: 'answered'; statusCode: number; address: string }
  | { kind: 'no_answer'; error: string; address: string | null };

/** Most of an answer's body read (and dropped) before the connection is released. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Sends webhooks without letting a caller-chosen URL reach internal services (SSRF): the host name is
 * resolved once, every address is judged by the policy, and the connection goes to an allowed address from
 * that one resolution — never to a second lookup, so DNS rebinding (a public answer to the check, a private
 * one to the connect) cannot slip through. Redirects are not followed.
 */
export function createWebhookSender(options: SenderOptions) {
  const resolve = options.resolve ?? systemResolve;

  async function pick(url: URL): Promise<{ address: string; family: 4 | 6 } | { refused: string }> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const literal = isIP(host);
    const candidates = literal !== 0 ? [{ address: host, family: literal }] : await resolve(host);
    if (candidates.length === 0) return { refused: `${host} resolved to no address` };
    const reasons: string[] = [];
    for (const c of candidates) {
      const refusal = options.policy.refusalOf(c.address);
      if (refusal === null) return { address: c.address, family: c.family === 6 ? 6 : 4 };
      reasons.push(refusal);
    }
    return { refused: `${host}: ${reasons.join('; ')}` };
  }

  return {
    async send(target: string, headers: Record<string, string>, body: string): Promise<SendResult> {
      let url: URL;
      try {
        url = new URL(target);
      } catch {
        return { kind: 'refused', reason: 'not a URL', address: null };
      }
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowHttp)) {
        return { kind: 'refused', reason: `scheme ${url.protocol} not allowed`, address: null };
      }
      if (url.username || url.password) return { kind: 'refused', reason: 'credentials in the URL', address: null };
      let chosen: Awaited<ReturnType<typeof pick>>;
      try {
        chosen = await pick(url);
      } catch (err) {
        return { kind: 'no_answer', error: `resolving ${url.hostname}: ${(err as Error).message}`, address: null };
      }
      if ('refused' in chosen) return { kind: 'refused', reason: chosen.refused, address: null };
      const { address, family } = chosen;
      // The one validated address, whatever the resolver would say now (TLS still checks the certificate against the host name).
      const pinned: LookupFunction = (_hostname, opts, callback) => {
        if ((opts as { all?: boolean }).all) (callback as unknown as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
        else callback(null, address, family);
      };
      const transport = url.protocol === 'https:' ? https : http;
      return new Promise<SendResult>((resolveResult) => {
        const req = transport.request(
          url,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'execution-orchestrator-webhooks', ...headers },
            lookup: pinned,
            agent: false,
            signal: AbortSignal.timeout(options.timeoutMs),
          },
          (res) => {
            let read = 0;
            res.on('data', (chunk: Buffer) => {
              read += chunk.length;
              if (read > MAX_ANSWER_BYTES) res.destroy();
            });
            res.on('close', () => resolveResult({ kind: 'answered', statusCode: res.statusCode ?? 0, address }));
            res.on('error', () => undefined); // an answer cut short still has its status
          },
        );
        req.on('error', (err) => resolveResult({ kind: 'no_answer', error: err.name === 'AbortError' || err.name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : err.message, address }));
        req.end(body);
      });
    },
  };
}
export type WebhookSender = ReturnType<typeof createWebhookSender>;
