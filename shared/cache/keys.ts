/**
 * The Redis key schema, in one place so every instance and tool agrees:
 *
 * - `face:{face_id}` — hash `{encoding, metadata, cached_at}`; `encoding` is little-endian
 *   float32 bytes (or an AES-GCM envelope when encryption is configured).
 * - `faces:ids` — set of enrolled face ids, so a gallery loads without `SCAN`.
 * - `faces:version` — integer bumped on every gallery write.
 * - `faces:changes` — pub/sub channel announcing gallery writes to other instances.
 * - `detection:{camera_id}:{frame_number}` — JSON `{detections, timestamp}`.
 * - `snapshot:{event_id}` — JPEG bytes of an alert's snapshot, with a TTL.
 * - `alert:{alert_key}` — the replica that claimed an alert (`SET NX PX`), for the cooldown:
 *   replicas behind one Redis raise each alert once.
 *
 * An optional key prefix (ioredis `keyPrefix`) is applied by the client, not here.
 *
 * @module
 */

/** Key of the hash holding one enrolled face. */
export function faceKey(faceId: string): string {
  return `face:${faceId}`;
}

/** Set of all enrolled face ids. */
export const FACE_IDS_KEY = "faces:ids";

/** Counter bumped on every gallery write. */
export const FACE_VERSION_KEY = "faces:version";

/** Pub/sub channel carrying gallery change notices. */
export const FACE_CHANGES_CHANNEL = "faces:changes";

/** Key of the cached detections of one frame. */
export function detectionKey(cameraId: string, frameNumber: number): string {
  if (!Number.isSafeInteger(frameNumber) || frameNumber < 0) {
    throw new RangeError(`frame number must be a non-negative integer, got ${frameNumber}`);
  }
  return `detection:${cameraId}:${frameNumber}`;
}

/** Key of an alert's JPEG snapshot. */
export function snapshotKey(eventId: string): string {
  return `snapshot:${eventId}`;
}

/** Key claimed by the replica that raises the alert `alertKey` (see shared/alerts). */
export function alertClaimKey(alertKey: string): string {
  return `alert:${alertKey}`;
}
