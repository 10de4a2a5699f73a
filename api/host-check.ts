import { isIP } from 'node:net';
import type { RequestHandler } from 'express';
import { HttpError } from './problem';

// DNS rebinding: a web page whose name resolves to 127.0.0.1 could otherwise drive a developer's local API
// from the browser. Bound to loopback, the API answers only requests addressed to a loopback name.

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** Whether the API's listen address is a loopback one (then the Host header is checked). */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/**
 * When the API listens on loopback: the Host header must be `localhost`, `127.0.0.1` or `[::1]` with the port
 * the request came in on (bare on port 80), else 421 problem+json. Elsewhere: no check (a proxy or ingress
 * names the service).
 */
export function hostCheck(listenHost: string): RequestHandler {
  if (!isLoopback(listenHost)) return (_req, _res, next) => next();
  return (req, _res, next) => {
    const host = (req.headers.host ?? '').toLowerCase();
    const port = req.socket.localPort;
    const allowed = LOOPBACK_NAMES.some((name) => host === `${name}:${port}` || (port === 80 && host === name));
    if (!allowed) {
      throw new HttpError(421, 'misdirected-request', 'Misdirected Request', `this API listens on loopback and answers only Host localhost, 127.0.0.1 or [::1] with port ${port}`, {
        errors: [{ field: 'header Host', message: 'is not a loopback name with this port' }],
      });
    }
    next();
  };
}
