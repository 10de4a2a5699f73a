import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError } from '@temporalio/common';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { CodecKey, Keyring } from './keyring';

/** `encoding` of an encrypted payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key a payload was encrypted with. */
export const METADATA_KEY_ID = 'encryption-key-id';
/** Metadata key naming the cipher, so a later format can be told apart. */
export const METADATA_CIPHER = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * Encrypts every Temporal payload (workflow and activity inputs and results, signals, queries, heartbeat
 * details, failure details) with AES-256-GCM before it leaves the process: the whole payload — its metadata
 * and data — is serialized and encrypted under the keyring's first key with a random 12-byte IV; the key id
 * is the additional authenticated data. Decoding picks the key by the id in the metadata; a payload that
 * is not encrypted (histories written before encryption, replay fixtures) passes through unchanged.
 */
export class EncryptionCodec implements PayloadCodec {
  // Key objects made once: a raw key given to createCipheriv is made into one on every call (measured here,
  // Node 24: 21 µs per 300-byte payload with a Buffer key, 5.7 µs with a KeyObject).
  private readonly byId: Map<string, KeyObject>;
  private readonly current: { id: string; key: KeyObject };

  constructor(keyring: Keyring) {
    const first = keyring[0];
    if (!first) throw new ValueError('the payload codec needs at least one key');
    this.byId = new Map(keyring.map((k: CodecKey) => [k.id, createSecretKey(k.key)]));
    this.current = { id: first.id, key: createSecretKey(first.key) };
  }

  /** Id of the key new payloads are encrypted with. */
  get currentKeyId(): string {
    return this.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.current.key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(this.current.id, 'utf8'));
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING),
          [METADATA_KEY_ID]: utf8(this.current.id),
          [METADATA_CIPHER]: utf8(CIPHER),
        },
        data,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
      const keyId = text(payload.metadata?.[METADATA_KEY_ID]);
      if (!keyId) throw new ValueError(`an encrypted payload carries no ${METADATA_KEY_ID}: it cannot be decrypted`);
      const key = this.byId.get(keyId);
      if (!key) throw new ValueError(`a payload is encrypted with key id "${keyId}", which PAYLOAD_CODEC_KEYS does not hold`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError(`an encrypted payload (key id "${keyId}") is too short to hold an IV and a tag`);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        // GCM says only "unable to authenticate": name what that means here.
        throw new ValueError(`a payload encrypted with key id "${keyId}" does not authenticate: the key under that id is not the one it was encrypted with, or the payload was altered`);
      }
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/** The data converter every Temporal client and worker of the service uses: payloads encrypted by the keyring. */
export function createDataConverter(keyring: Keyring): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keyring)] };
}
