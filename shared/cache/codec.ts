/**
 * Compact serialisation of face encodings: little-endian IEEE-754 float32 bytes, 4 bytes per
 * dimension (512 bytes for 128-D), instead of JSON text (~2.3 KB and lossy when printed).
 * The byte order is fixed so stores written on any host read back bit-exact on any other.
 *
 * @module
 */

let hostIsLittleEndian: boolean | undefined;

function littleEndianHost(): boolean {
  if (hostIsLittleEndian === undefined) {
    hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  }
  return hostIsLittleEndian;
}

/** Encodes a vector as little-endian float32 bytes (a fresh copy). */
export function encodeFloat32LE(vector: Float32Array): Uint8Array {
  const out = new Uint8Array(vector.length * 4);
  if (littleEndianHost()) {
    out.set(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
  } else {
    const view = new DataView(out.buffer);
    for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i]!, true);
  }
  return out;
}

/**
 * Decodes little-endian float32 bytes into a fresh, aligned Float32Array. Throws a RangeError
 * when the length is not a multiple of 4 or differs from `expectedDim * 4`.
 */
export function decodeFloat32LE(bytes: Uint8Array, expectedDim?: number): Float32Array {
  if (bytes.byteLength % 4 !== 0) {
    throw new RangeError(`float32 data must be a multiple of 4 bytes, got ${bytes.byteLength}`);
  }
  const dim = bytes.byteLength / 4;
  if (expectedDim !== undefined && dim !== expectedDim) {
    throw new RangeError(`expected ${expectedDim} float32 values, got ${dim}`);
  }
  const out = new Float32Array(dim);
  if (littleEndianHost()) {
    new Uint8Array(out.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < dim; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** Serialises a value as UTF-8 JSON bytes. */
export function encodeJson(value: unknown): Uint8Array {
  return utf8Encoder.encode(JSON.stringify(value));
}

/** Parses UTF-8 JSON bytes; throws a SyntaxError/TypeError on invalid data. */
export function decodeJson(bytes: Uint8Array): unknown {
  return JSON.parse(utf8Decoder.decode(bytes));
}

/** Decodes UTF-8 bytes to a string (throws on invalid UTF-8). */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}
