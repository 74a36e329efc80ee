/**
 * Encryption of face encodings at rest with AES-256-GCM (WebCrypto). The key is derived from
 * the configured secret with HKDF-SHA-256; the face id, metadata and `cached_at` are bound to
 * the ciphertext as additional authenticated data, so editing metadata in Redis, moving an
 * encoding to another id, or using the wrong key makes decryption fail loudly instead of
 * returning a wrong vector.
 *
 * Envelope: `"FGE1"` (4) | key id (8) | IV (12) | ciphertext + tag. The key id (derived from the
 * key, revealing nothing about it) lets a mismatch be reported as such.
 *
 * @module
 */
import { FessError } from "../errors.ts";

/** Thrown when a stored encoding cannot be decrypted: wrong key, tampering, or mixed modes. */
export class FaceEncryptionError extends FessError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(500, "face_encryption_error", message, options);
  }
}

/** Seals and opens encodings. */
export interface EncodingCipher {
  /** Hex id of the key (from HKDF, not the key itself). */
  readonly keyId: string;
  /** Encrypts `plain`, authenticating `aad` with it. */
  seal(plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** Decrypts an envelope; throws {@link FaceEncryptionError} on any mismatch. */
  open(sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}

const MAGIC = new Uint8Array([0x46, 0x47, 0x45, 0x31]); // "FGE1"
const KEY_ID_BYTES = 8;
const IV_BYTES = 12;
/** Bytes an envelope adds to the plaintext. */
export const ENVELOPE_OVERHEAD = MAGIC.length + KEY_ID_BYTES + IV_BYTES + 16;

const utf8 = new TextEncoder();
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Whether `bytes` starts like an envelope. */
export function looksSealed(bytes: Uint8Array): boolean {
  return bytes.byteLength >= ENVELOPE_OVERHEAD && MAGIC.every((m, i) => bytes[i] === m);
}

/** Derives the cipher from a secret of at least 16 characters. */
export async function createEncodingCipher(secret: string): Promise<EncodingCipher> {
  if (secret.length < 16) {
    throw new RangeError("the face encryption key must be at least 16 characters");
  }
  const ikm = await crypto.subtle.importKey("raw", utf8.encode(secret), "HKDF", false, [
    "deriveKey",
    "deriveBits",
  ]);
  const salt = utf8.encode("fess/face-encoding/v1");
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt, info: utf8.encode("aes-256-gcm") },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
  const idBits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt, info: utf8.encode("key-id") },
    ikm,
    KEY_ID_BYTES * 8,
  );
  const keyIdBytes = new Uint8Array(idBits);
  const keyId = hex(keyIdBytes);

  return {
    keyId,
    async seal(plain, aad) {
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const ct = new Uint8Array(
        await crypto.subtle.encrypt(
          { name: "AES-GCM", iv, additionalData: aad as Uint8Array<ArrayBuffer> },
          key,
          plain as Uint8Array<ArrayBuffer>,
        ),
      );
      const out = new Uint8Array(MAGIC.length + KEY_ID_BYTES + IV_BYTES + ct.byteLength);
      out.set(MAGIC, 0);
      out.set(keyIdBytes, MAGIC.length);
      out.set(iv, MAGIC.length + KEY_ID_BYTES);
      out.set(ct, MAGIC.length + KEY_ID_BYTES + IV_BYTES);
      return out;
    },
    async open(sealed, aad) {
      if (!looksSealed(sealed)) {
        throw new FaceEncryptionError(
          "stored encoding is not encrypted but an encryption key is configured",
        );
      }
      const storedId = hex(sealed.subarray(MAGIC.length, MAGIC.length + KEY_ID_BYTES));
      if (storedId !== keyId) {
        throw new FaceEncryptionError(
          `stored encoding was encrypted with another key (key id ${storedId}, configured ${keyId})`,
        );
      }
      const iv = sealed.slice(MAGIC.length + KEY_ID_BYTES, MAGIC.length + KEY_ID_BYTES + IV_BYTES);
      try {
        return new Uint8Array(
          await crypto.subtle.decrypt(
            { name: "AES-GCM", iv, additionalData: aad as Uint8Array<ArrayBuffer> },
            key,
            sealed.slice(MAGIC.length + KEY_ID_BYTES + IV_BYTES),
          ),
        );
      } catch (err) {
        throw new FaceEncryptionError(
          "stored encoding failed authentication: its metadata or ciphertext was altered",
          { cause: err },
        );
      }
    },
  };
}
