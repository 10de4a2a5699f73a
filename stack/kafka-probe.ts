import net from 'node:net';

// A minimal Kafka protocol client, enough to tell a broker that serves requests from one
// that merely has its port open: ApiVersions (answered in any version by every broker),
// then Metadata to see that the broker knows itself and a controller.

const API_METADATA = 3;
const API_VERSIONS = 18;
const CLIENT_ID = 'eo-stack-probe';

export interface KafkaProbeResult {
  /** api key -> [min, max] version the broker supports. */
  apiVersions: Map<number, [number, number]>;
  brokerCount: number;
  controllerId: number;
}

function request(apiKey: number, apiVersion: number, correlationId: number, body: Buffer): Buffer {
  const clientId = Buffer.from(CLIENT_ID, 'utf8');
  // Request header v1: api_key, api_version, correlation_id, client_id (nullable string).
  const header = Buffer.alloc(2 + 2 + 4 + 2);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(clientId.length, 8);
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + clientId.length + body.length, 0);
  return Buffer.concat([size, header, clientId, body]);
}

/** Sequential reads over a response body; throws RangeError when it runs short. */
class Reader {
  private offset = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  int16(): number {
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  int32(): number {
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  nullableString(): string | null {
    const length = this.int16();
    if (length < 0) return null;
    const v = this.buf.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return v;
  }
}

/** One connection: sends a request and resolves with the matching response body. */
class Connection {
  private buffered = Buffer.alloc(0);
  private waiting: { correlationId: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private readonly socket: net.Socket;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.deliver();
    });
    const fail = (err: Error): void => {
      this.failure = err;
      this.waiting?.reject(err);
      this.waiting = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the broker')));
  }

  static open(host: string, port: number, timeoutMs: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs}ms`)));
      socket.once('connect', () => resolve(new Connection(socket)));
      socket.once('error', reject);
    });
  }

  send(apiKey: number, apiVersion: number, correlationId: number, body: Buffer): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { correlationId, resolve, reject };
      this.socket.write(request(apiKey, apiVersion, correlationId, body));
    });
  }

  private deliver(): void {
    if (this.buffered.length < 4) return;
    const size = this.buffered.readInt32BE(0);
    if (this.buffered.length < 4 + size) return;
    const frame = this.buffered.subarray(4, 4 + size);
    this.buffered = this.buffered.subarray(4 + size);
    const waiting = this.waiting;
    this.waiting = undefined;
    if (!waiting) return;
    // Response header v0 (non-flexible versions): correlation_id only.
    const correlationId = frame.readInt32BE(0);
    if (correlationId !== waiting.correlationId) {
      waiting.reject(new Error(`correlation id ${correlationId}, expected ${waiting.correlationId}`));
    } else {
      waiting.resolve(frame.subarray(4));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

function parseApiVersions(body: Buffer): Map<number, [number, number]> {
  const r = new Reader(body);
  const errorCode = r.int16();
  if (errorCode !== 0) throw new Error(`ApiVersions error code ${errorCode}`);
  const count = r.int32();
  const versions = new Map<number, [number, number]>();
  for (let i = 0; i < count; i++) {
    const key = r.int16();
    versions.set(key, [r.int16(), r.int16()]);
  }
  return versions;
}

/** Metadata v4..v8 (the non-flexible versions a 4.x broker still accepts) for no topics. */
function metadataRequestBody(version: number): Buffer {
  const parts = [Buffer.from([0, 0, 0, 0]), Buffer.from([0])]; // topics: empty array; allow_auto_topic_creation: false
  if (version >= 8) parts.push(Buffer.from([0, 0])); // include cluster/topic authorized operations: false
  return Buffer.concat(parts);
}

function parseMetadata(body: Buffer): { brokerCount: number; controllerId: number } {
  const r = new Reader(body);
  r.int32(); // throttle_time_ms
  const brokerCount = r.int32();
  for (let i = 0; i < brokerCount; i++) {
    r.int32(); // node_id
    r.nullableString(); // host
    r.int32(); // port
    r.nullableString(); // rack
  }
  r.nullableString(); // cluster_id
  return { brokerCount, controllerId: r.int32() };
}

/** Throws unless a Kafka broker at host:port answers ApiVersions and Metadata. */
export async function probeKafka(host: string, port: number, timeoutMs = 3000): Promise<KafkaProbeResult> {
  const connection = await Connection.open(host, port, timeoutMs);
  try {
    const apiVersions = parseApiVersions(await connection.send(API_VERSIONS, 0, 1, Buffer.alloc(0)));
    const [min, max] = apiVersions.get(API_METADATA) ?? [-1, -1];
    const version = Math.max(min, 4);
    if (min < 0 || version > Math.min(max, 8)) {
      throw new Error(`broker offers Metadata v${min}-v${max}; this probe speaks v4-v8`);
    }
    const metadata = parseMetadata(await connection.send(API_METADATA, version, 2, metadataRequestBody(version)));
    return { apiVersions, ...metadata };
  } finally {
    connection.close();
  }
}
