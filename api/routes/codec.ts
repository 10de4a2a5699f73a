import { isIP } from 'node:net';
import express, { Router } from 'express';
import type { Request, RequestHandler, Response } from 'express';
import { ValueError } from '@temporalio/common';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { HttpError, validationError, fieldErrorsOf } from '../problem';

/** Temporal's codec-server JSON protocol: payloads with base64 metadata values and data. */
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
export const codecBodySchema = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), base64).nullish(), data: base64.nullish() })),
});
type JsonPayload = z.infer<typeof codecBodySchema>['payloads'][number];

export interface CodecRouterOptions {
  /** The codec every Temporal client and worker of the service uses. */
  codec: PayloadCodec;
  /**
   * Decides who may encode and decode: runs after CORS, before the codec. The admin-key check plugs in
   * here; until then {@link codecAccessPlaceholder}.
   */
  authorize: RequestHandler;
  /** Origins of Temporal Web UIs allowed to call from a browser (exact `scheme://host[:port]`). */
  corsOrigins: readonly string[];
}

/** Payloads in a history can be large; a whole workflow's worth arrives in one call. */
const BODY_LIMIT = '16mb';
const ALLOWED_HEADERS = 'Content-Type, X-Namespace, Authorization';

const fromJson = ({ metadata, data }: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(data ?? '', 'base64'),
});
const toJson = ({ metadata, data }: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(data ?? new Uint8Array()).toString('base64'),
});

/**
 * `POST /codec/encode` and `POST /codec/decode` for the Temporal Web UI (`--ui-codec-endpoint`, or its
 * "Codec Server" setting) and CLI (`--codec-endpoint`): Temporal's codec-server protocol,
 * `{payloads: [{metadata, data}]}` in and out, with CORS for the configured UI origins (preflights
 * answered before authorization: a browser sends no credentials on them).
 */
export function createCodecRouter(options: CodecRouterOptions): Router {
  const origins = new Set(options.corsOrigins);
  const router = Router();
  const cors: RequestHandler = (req, res, next) => {
    res.vary('Origin');
    const origin = req.get('origin');
    if (origin && origins.has(origin)) {
      res.set('Access-Control-Allow-Origin', origin);
      // The UI's "include cross-origin credentials" sends cookies / Authorization along.
      res.set('Access-Control-Allow-Credentials', 'true');
    }
    if (req.method === 'OPTIONS') {
      if (origin && origins.has(origin)) {
        res.set('Access-Control-Allow-Methods', 'POST');
        res.set('Access-Control-Allow-Headers', ALLOWED_HEADERS);
        res.set('Access-Control-Max-Age', '600');
      }
      res.status(204).end();
      return;
    }
    next();
  };
  const handle = (op: 'encode' | 'decode') => async (req: Request, res: Response) => {
    const parsed = codecBodySchema.safeParse(req.body);
    if (!parsed.success) throw validationError(fieldErrorsOf(parsed.error));
    const payloads = parsed.data.payloads.map(fromJson);
    let result: Payload[];
    try {
      result = await options.codec[op](payloads);
    } catch (err) {
      // A payload this keyring cannot decrypt is the caller's data, not our fault: say which key it needs.
      if (err instanceof ValueError) throw new HttpError(422, 'undecodable-payload', 'Unprocessable Content', err.message);
      throw err;
    }
    res.json({ payloads: result.map(toJson) });
  };
  const paths = ['/codec/encode', '/codec/decode'];
  router.use(paths, cors, options.authorize, express.json({ limit: BODY_LIMIT }));
  router.post('/codec/encode', handle('encode'));
  router.post('/codec/decode', handle('decode'));
  return router;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

function fromLoopback(req: Request): boolean {
  const remote = req.socket.remoteAddress ?? '';
  const address = remote.startsWith('::ffff:') ? remote.slice(7) : remote;
  const loopbackAddress = address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
  // The Host check keeps a web page that rebinds its name to 127.0.0.1 out (its requests carry its own name).
  const host = (req.get('host') ?? '').replace(/:\d+$/, '').toLowerCase();
  return loopbackAddress && LOOPBACK_NAMES.has(host);
}

/**
 * Stands in for the admin-key check until API keys land. `closed` (the default of a process run alone):
 * every call is refused with 403. `loopback` (`npm start`'s default, or `CODEC_ENDPOINT_ACCESS=loopback`):
 * calls from this host to a loopback Host name are allowed — the developer's own Web UI and CLI.
 */
export function codecAccessPlaceholder(access: 'closed' | 'loopback'): RequestHandler {
  return (req, _res, next) => {
    if (access === 'loopback' && fromLoopback(req)) return next();
    const why = access === 'closed'
      ? 'the codec endpoint is closed (CODEC_ENDPOINT_ACCESS=closed): it opens to admin keys once they land; on a development machine set CODEC_ENDPOINT_ACCESS=loopback'
      : 'the codec endpoint answers only requests from this host to a loopback name (CODEC_ENDPOINT_ACCESS=loopback)';
    next(new HttpError(403, 'forbidden', 'Forbidden', why));
  };
}
