import type { Request, RequestHandler, Response } from 'express';
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimitConfig } from '../config';
import type { Logger } from '../observability/logger';
import { coerceError } from '../observability/logger';
import type { Db } from '../store/db';
import { countUnfinishedOfOwner } from '../store/executions';
import { OwnerQuotaExceededError } from '../store/errors';
import type { OwnerLocks } from '../store/owner-locks';
import { limitKeyOf } from './limit-key';
import { HttpError } from './problem';
import { timed } from '../observability/request-timing';
import { fulfilledWithin } from '../fulfilled-within';

// Limits per principal shared by every API replica: the counters live in Redis (rate-limiter-flexible's
// atomic Lua increment), so N replicas enforce one limit, not N. The per-owner quota of unfinished
// executions is counted in Postgres, where the executions are.
//
// Headers follow draft-ietf-httpapi-ratelimit-headers-10 (field syntax of -08 onwards): structured-field
// lists, `RateLimit-Policy: "requests";q=50;w=1` and `RateLimit: "requests";r=49;t=1`.

/** Advice in `Retry-After` when the quota of unfinished executions is full: when a run ends is not known, s. */
export const QUOTA_RETRY_AFTER_S = 5;
/** Advice in `Retry-After` when Redis does not answer and limits fail closed, s. */
const REDIS_DOWN_RETRY_AFTER_S = 1;
/** A Redis command that takes longer than this counts as Redis down, ms. */
export const REDIS_COMMAND_TIMEOUT_MS = 500;

export type LimitPolicy = 'requests' | 'executions' | 'active-executions';

export interface RateLimitsDeps {
  redis: Redis;
  db: Db;
  /** Serialises an owner's admissions across replicas, so racing submissions cannot all pass the quota. */
  ownerLocks: OwnerLocks;
  limits: RateLimitConfig;
  log: Logger;
}

export interface RateLimitsReadiness {
  ok: boolean;
  /** Limits fail closed and Redis is down: every limited request is refused, so the API is not ready. */
  blocksReadiness: boolean;
  mode: 'open' | 'closed';
  note?: string;
  error?: string;
}

/** What a start that the owner's quota admits must do. */
export interface Admission {
  /** The quota the row's own statement holds to (it takes the owner's lock and counts); null: already counted under the owner's lock. */
  ownerQuota: number | null;
  /** Called once the start's rows are written: they count from then on, and the owner's lock may go. */
  admitted: () => void;
}

/** An admission with nothing left to check: the start writes no row, or its caller counted for it. */
export const ADMITTED: Admission = { ownerQuota: null, admitted: () => undefined };

export interface RateLimits {
  /** Middleware: counts one request against the principal's requests per second; 429 past it. */
  requests: RequestHandler;
  /**
   * Runs `start`, which starts up to `count` executions for the request's principal and `ownerId`, if they
   * fit: the principal's executions per minute and the owner's quota of unfinished executions (all or none).
   * One execution: its row's own statement holds the owner's lock and counts (`Admission.ownerQuota`), so
   * the lock lasts one statement. Several (a batch): the owner's lock is held from the count until `start`
   * calls `admitted` (its rows are written, so the next count includes them) or ends. Either way the slow
   * part of a start, Temporal's, runs outside the lock.
   * @throws HttpError 429 (a limit), 503 (Redis down and limits fail closed).
   */
  admitExecutions<T>(req: Request, res: Response, admission: { ownerId: string; count: number }, start: (admission: Admission) => Promise<T>): Promise<T>;
  readiness(): Promise<RateLimitsReadiness>;
}

const tooMany = (policy: LimitPolicy, limit: number, retryAfterS: number, detail: string, extras: Record<string, unknown> = {}) =>
  new HttpError(429, 'rate-limited', 'Too Many Requests', detail, { policy, limit, retryAfterSeconds: retryAfterS, ...extras });

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** How long the API waits at start for Redis before serving anyway (limits then fail open or closed), ms. */
const REDIS_START_WAIT_MS = 3_000;

/**
 * A Redis client for the limits: no offline queue and one attempt per command, so with Redis down a request
 * waits for nothing — the limits fail open or closed at once — while the client keeps reconnecting.
 */
export async function connectRedis(url: string, log: Logger): Promise<Redis> {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    lazyConnect: true,
    // A socket that never connected emits no second close: without this, stop() leaves a 2 s timer behind.
    disconnectTimeout: 200,
  });
  // Every failed reconnect emits one; the limits log the outage once (see redisFailed), this only traces it.
  redis.on('error', (err) => log.debug({ err: coerceError(err) }, 'redis connection error'));
  try {
    if (!(await fulfilledWithin(redis.connect(), REDIS_START_WAIT_MS))) throw new Error(`no connection in ${REDIS_START_WAIT_MS} ms`);
  } catch (err) {
    // Not fatal: the client keeps trying, and until it connects the limits fail as configured.
    log.warn({ err: coerceError(err) }, 'redis unreachable at start: rate limits fail as RATE_LIMIT_REDIS_DOWN says until it answers');
  }
  return redis;
}

/** Creates the limiters on a shared Redis client (ioredis with `enableOfflineQueue: false`, so a down Redis fails fast). */
export function createRateLimits(deps: RateLimitsDeps): RateLimits {
  const { limits, log } = deps;
  const common = { storeClient: deps.redis, rejectIfRedisNotReady: true };
  const policies = {
    requests: { limiter: new RateLimiterRedis({ ...common, keyPrefix: 'eo:rl:requests', points: limits.requestsPerSecond, duration: 1 }), quota: limits.requestsPerSecond, windowS: 1 },
    executions: { limiter: new RateLimiterRedis({ ...common, keyPrefix: 'eo:rl:executions', points: limits.executionsPerMinute, duration: 60 }), quota: limits.executionsPerMinute, windowS: 60 },
  } as const;

  let redisDown = false;
  const redisFailed = (err: unknown, res: Response) => {
    if (!redisDown) {
      redisDown = true;
      const effect = limits.redisDown === 'open' ? 'requests are served without the per-second and per-minute limits' : 'limited requests are refused with 503';
      log.error({ err: coerceError(err), mode: limits.redisDown }, `redis unreachable: rate limits fail ${limits.redisDown}, ${effect}`);
    }
    if (limits.redisDown === 'closed') {
      res.set('Retry-After', String(REDIS_DOWN_RETRY_AFTER_S));
      throw new HttpError(503, 'rate-limit-unavailable', 'Service Unavailable', 'rate limits cannot be checked (Redis does not answer) and are configured to fail closed', { retryAfterSeconds: REDIS_DOWN_RETRY_AFTER_S });
    }
  };
  const redisAnswered = () => {
    if (!redisDown) return;
    redisDown = false;
    log.info('redis reachable again: rate limits enforced');
  };

  const remaining = (name: keyof typeof policies, state: RateLimiterRes) => `"${name}";r=${Math.max(0, state.remainingPoints)};t=${seconds(state.msBeforeNext)}`;
  const announce = (res: Response, name: keyof typeof policies, state: RateLimiterRes) => {
    const { quota, windowS } = policies[name];
    res.append('RateLimit-Policy', `"${name}";q=${quota};w=${windowS}`);
    res.append('RateLimit', remaining(name, state));
  };
  /** Points given back: `RateLimit` says what is left now, not what was left when they were spent. */
  const reannounce = (res: Response, name: keyof typeof policies, state: RateLimiterRes) => {
    const others = [res.getHeader('RateLimit') ?? []].flat().map(String).filter((v) => !v.startsWith(`"${name}"`));
    res.setHeader('RateLimit', [...others, remaining(name, state)]);
  };

  /** Spends `points` of `name` for `key`; false when Redis failed and limits fail open. @throws HttpError 429/503. */
  const spend = async (res: Response, name: keyof typeof policies, key: string, points: number, refundRefused: boolean): Promise<boolean> => {
    const { limiter, quota, windowS } = policies[name];
    if (points > quota) {
      // No wait would make it fit: say so rather than advise a retry that fails again.
      res.set('Retry-After', String(windowS));
      throw tooMany(name, quota, windowS, `this request asks for ${points} at once, more than the ${quota} allowed per ${windowS} s in all; send at most ${quota}`);
    }
    let state: RateLimiterRes;
    try {
      state = await timed('limits', () => limiter.consume(key, points));
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) {
        redisFailed(err, res);
        return false;
      }
      redisAnswered();
      // A refused batch spends nothing: give back what the atomic increment took (best effort, logged).
      if (refundRefused) await limiter.reward(key, points).catch((e: unknown) => log.warn({ err: coerceError(e) }, 'could not give back refused rate-limit points'));
      announce(res, name, err);
      const retryAfterS = seconds(err.msBeforeNext);
      res.set('Retry-After', String(retryAfterS));
      const what = name === 'requests' ? 'requests' : 'executions started';
      throw tooMany(name, quota, retryAfterS, `more than ${quota} ${what} per ${windowS === 1 ? 'second' : `${windowS} s`}${points > 1 ? ` (this request asks for ${points})` : ''}; retry in ${retryAfterS} s`);
    }
    redisAnswered();
    announce(res, name, state);
    return true;
  };

  return {
    requests: async (req, res, next) => {
      await spend(res, 'requests', limitKeyOf(req, res), 1, false);
      next();
    },

    async admitExecutions(req, res, { ownerId, count }, start) {
      if (count <= 0) return start(ADMITTED);
      const quota = limits.activeExecutionsPerOwner;
      const key = limitKeyOf(req, res);
      const quotaFull = (active: number) => {
        res.set('Retry-After', String(QUOTA_RETRY_AFTER_S));
        return tooMany('active-executions', quota, QUOTA_RETRY_AFTER_S, `owner ${ownerId} has ${active} executions queued or running; at most ${quota} at once${count > 1 ? ` (this request adds ${count})` : ''}`, { active });
      };
      if (count === 1) {
        // Spent first (the quota is checked by the insert itself); a refusal by the quota gives the point back.
        const spent = await spend(res, 'executions', key, 1, true);
        try {
          return await start({ ownerQuota: quota, admitted: () => undefined });
        } catch (err) {
          if (!(err instanceof OwnerQuotaExceededError)) throw err;
          if (spent) {
            await policies.executions.limiter.reward(key, 1).then(
              (state) => reannounce(res, 'executions', state),
              (e: unknown) => log.warn({ err: coerceError(e) }, 'could not give back a rate-limit point the quota refused'),
            );
          }
          throw quotaFull(err.active);
        }
      }
      // Without the lock, racing submissions of one owner would all count the rows written before any of them,
      // and all pass; once a submission's rows are written it lets the next one count.
      return deps.ownerLocks.withOwnerLock(ownerId, async (unlock) => {
        const active = await countUnfinishedOfOwner(deps.db, ownerId);
        if (active + count > quota) throw quotaFull(active);
        await spend(res, 'executions', key, count, true);
        return start({ ownerQuota: null, admitted: () => void unlock() });
      });
    },

    async readiness() {
      const mode = limits.redisDown;
      try {
        const pong = await deps.redis.ping();
        if (pong !== 'PONG') throw new Error(`unexpected answer to PING: ${pong}`);
        redisAnswered();
        return { ok: true, blocksReadiness: false, mode };
      } catch (err) {
        const error = coerceError(err).message;
        const note = mode === 'open' ? 'Redis down: rate limits fail open (not enforced; the owner quota still holds)' : 'Redis down: rate limits fail closed (limited requests answer 503)';
        return { ok: false, blocksReadiness: mode === 'closed', mode, note, error };
      }
    },
  };
}
