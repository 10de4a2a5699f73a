/** How much of the end of a stream is kept for diagnosis (OOM reports), whatever the cap. */
const DEFAULT_TAIL_BYTES = 8 * 1024;

/**
 * Collects one output stream: keeps the first `capBytes` bytes, counts everything, and keeps a
 * short rolling tail so that an interpreter's dying words survive truncation.
 */
export class CappedOutput {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tailBuf: Buffer = Buffer.alloc(0);
  /** Bytes the process wrote to the stream, kept or not. */
  totalBytes = 0;

  constructor(
    private readonly capBytes: number,
    private readonly tailBytes: number = DEFAULT_TAIL_BYTES,
  ) {}

  get truncated(): boolean {
    return this.totalBytes > this.capBytes;
  }

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    const room = this.capBytes - this.headBytes;
    if (room > 0) {
      const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.head.push(kept);
      this.headBytes += kept.length;
    }
    if (this.tailBytes > 0) {
      // Concatenate lazily: only trim once the tail holds twice what it needs.
      this.tailBuf = Buffer.concat([this.tailBuf, chunk]);
      if (this.tailBuf.length > 2 * this.tailBytes) this.tailBuf = this.tailBuf.subarray(-this.tailBytes);
    }
  }

  /** The kept bytes as UTF-8; when truncated, a character cut in half at the cap is dropped. */
  text(): string {
    const kept = Buffer.concat(this.head);
    return (this.truncated ? trimIncompleteUtf8(kept) : kept).toString('utf8');
  }

  /** The last bytes written (up to the tail size), as UTF-8. */
  tail(): string {
    return this.tailBuf.subarray(-this.tailBytes).toString('utf8');
  }
}

/** Drops a trailing, incomplete UTF-8 sequence (at most 3 bytes), so decoding adds no U+FFFD. */
export function trimIncompleteUtf8(buf: Buffer): Buffer {
  const end = buf.length;
  for (let i = end - 1; i >= 0 && i >= end - 4; i--) {
    const byte = buf.readUInt8(i);
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + length > end ? buf.subarray(0, i) : buf;
  }
  return buf;
}
