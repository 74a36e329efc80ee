/**
 * Image sizes read from JPEG/PNG headers without decoding a pixel, so an oversized frame is
 * refused before any memory is spent on it. The size a header declares is the size libjpeg and
 * libpng decode to; a lying header makes the decoder fail (a 400), never allocate more.
 *
 * @module
 */

/** Width and height declared by an image header. */
export interface ImageSize {
  readonly width: number;
  readonly height: number;
}

/** PNG: the IHDR chunk is required to come first, right after the 8-byte signature. */
export function readPngSize(bytes: Uint8Array): ImageSize | null {
  if (bytes.length < 24) return null;
  // "IHDR"
  if (bytes[12] !== 0x49 || bytes[13] !== 0x48 || bytes[14] !== 0x44 || bytes[15] !== 0x52) {
    return null;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** SOFn markers carrying the frame size (C4 DHT, C8 JPG and CC DAC are not frames). */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
    marker !== 0xcc;
}

/**
 * JPEG: walks the marker segments up to the first SOFn (its Y and X fields). `null` when no SOF
 * comes before the scan data or the segments are malformed.
 */
export function readJpegSize(bytes: Uint8Array): ImageSize | null {
  let i = 2;
  const n = bytes.length;
  while (i + 3 < n) {
    if (bytes[i] !== 0xff) return null;
    let marker = bytes[++i]!;
    // Fill bytes: any number of 0xFF before a marker.
    while (marker === 0xff && i + 1 < n) marker = bytes[++i]!;
    i++;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue; // no length
    if (marker === 0xd9 || marker === 0xda) return null; // end of image / scan before a frame
    if (i + 1 >= n) return null;
    const length = (bytes[i]! << 8) | bytes[i + 1]!;
    if (length < 2) return null;
    if (isStartOfFrame(marker)) {
      if (i + 6 >= n) return null;
      const height = (bytes[i + 3]! << 8) | bytes[i + 4]!;
      const width = (bytes[i + 5]! << 8) | bytes[i + 6]!;
      return { width, height };
    }
    i += length;
  }
  return null;
}
