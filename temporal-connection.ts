import { readFileSync } from 'node:fs';
import { InterceptingCall, Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { Interceptor, NextCall } from '@grpc/grpc-js';
import { Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { ConnectionOptions } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/client';
import type { NativeConnection, NativeConnectionOptions } from '@temporalio/worker';
import { ConfigError } from './config';
import type { TemporalConnectionConfig } from './config';

/** The settings of one Temporal endpoint: its address and how to reach it (config `temporal`). */
export interface TemporalEndpoint {
  address: string;
  connection: TemporalConnectionConfig;
}

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  ${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The TLS options of every connection, files read now; undefined for plain gRPC. @throws ConfigError naming the variable of an unreadable file */
export function temporalTls(settings: TemporalConnectionConfig): TLSConfig | undefined {
  const tls = settings.tls;
  if (!tls) return undefined;
  return {
    ...(tls.caPath ? { serverRootCACertificate: readPem('TEMPORAL_TLS_CA_PATH', tls.caPath) } : {}),
    ...(tls.certPath && tls.keyPath ? { clientCertPair: { crt: readPem('TEMPORAL_TLS_CERT_PATH', tls.certPath), key: readPem('TEMPORAL_TLS_KEY_PATH', tls.keyPath) } } : {}),
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
  };
}

/** A call that never reached a channel: it ends at once with CANCELLED and the reason. */
function endedCall(details: string): ReturnType<NextCall> {
  return {
    start(_metadata, listener) {
      setImmediate(() => listener?.onReceiveStatus?.({ code: GrpcStatus.CANCELLED, details, metadata: new Metadata() }));
    },
    sendMessage() {},
    sendMessageWithContext() {},
    startRead() {},
    halfClose() {},
    cancelWithStatus() {},
    getPeer: () => '',
    getAuthContext: () => null,
  };
}

/**
 * Below Temporal's retry interceptor: a retry whose backoff timer fires after the connection was closed would
 * otherwise throw "Channel has been shut down" from that timer, an uncaught exception that ends the process
 * (seen when a service stops while a call to an unreachable server is backing off). The retry gets a CANCELLED
 * status instead, which it does not retry, and the caller's promise rejects with it.
 */
const closedChannelGuard: Interceptor = (options, nextCall) => {
  try {
    return new InterceptingCall(nextCall(options));
  } catch (err) {
    return new InterceptingCall(endedCall(`connection closed: ${err instanceof Error ? err.message : String(err)}`));
  }
};

/** Options of a client connection (API, the worker's client, the reconciler): TLS, API key, connect timeout, keep-alive. */
export function clientConnectionOptions(endpoint: TemporalEndpoint): ConnectionOptions {
  const c = endpoint.connection;
  return {
    address: endpoint.address,
    tls: temporalTls(c) ?? false,
    ...(c.apiKey ? { apiKey: c.apiKey } : {}),
    connectTimeout: c.connectTimeoutMs,
    channelArgs: { 'grpc.keepalive_time_ms': c.keepAliveTimeMs, 'grpc.keepalive_timeout_ms': c.keepAliveTimeoutMs, 'grpc.keepalive_permit_without_calls': 1 },
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions()), closedChannelGuard],
  };
}

/** Options of the worker's native (Rust core) connection: TLS and API key (its keep-alive is the core's own). */
export function nativeConnectionOptions(endpoint: TemporalEndpoint): NativeConnectionOptions {
  const c = endpoint.connection;
  return { address: endpoint.address, tls: temporalTls(c) ?? false, ...(c.apiKey ? { apiKey: c.apiKey } : {}) };
}

/** Says which settings were in play when a connection fails, so an operator knows which variable to look at. */
function explain(endpoint: TemporalEndpoint, err: unknown): Error {
  const c = endpoint.connection;
  const how = c.tls
    ? `with TLS (TEMPORAL_TLS${c.tls.caPath ? ', TEMPORAL_TLS_CA_PATH' : ''}${c.tls.certPath ? ', TEMPORAL_TLS_CERT_PATH, TEMPORAL_TLS_KEY_PATH' : ''}${c.apiKey ? ', TEMPORAL_API_KEY' : ''}); a server without TLS refuses this: set TEMPORAL_TLS=false for it`
    : 'without TLS (TEMPORAL_TLS unset or false); a server that requires TLS needs TEMPORAL_TLS=true';
  const cause = err instanceof Error ? err.message : String(err);
  return new Error(`cannot connect to Temporal at ${endpoint.address} (TEMPORAL_ADDRESS) ${how}: ${cause}`, { cause: err });
}

/** A client connection with the configured settings. @throws an Error naming the TEMPORAL_* settings when it cannot connect */
export async function connectTemporalClient(endpoint: TemporalEndpoint): Promise<Connection> {
  const options = clientConnectionOptions(endpoint);
  try {
    return await Connection.connect(options);
  } catch (err) {
    throw explain(endpoint, err);
  }
}

/** The worker's native connection with the configured settings. @throws an Error naming the TEMPORAL_* settings when it cannot connect */
export async function connectTemporalNative(endpoint: TemporalEndpoint): Promise<NativeConnection> {
  const options = nativeConnectionOptions(endpoint);
  // Loaded only here, so that the API, which connects as a client alone, never loads the worker SDK.
  const { NativeConnection } = await import('@temporalio/worker');
  try {
    return await NativeConnection.connect(options);
  } catch (err) {
    throw explain(endpoint, err);
  }
}
