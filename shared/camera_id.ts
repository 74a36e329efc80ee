/**
 * Camera ids appear in URLs, Kafka keys, Redis keys and metric labels, so they are validated
 * once here: 1-64 characters of letters, digits, `_`, `-` and `.`, starting with a letter or
 * digit. That keeps keys unambiguous and bounds label cardinality per camera.
 *
 * @module
 */
import { z } from "zod";
import { BadRequestError } from "./errors.ts";

/** The pattern every camera id matches. */
export const CAMERA_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** zod schema of a camera id. */
export const CameraIdSchema = z.string().regex(
  CAMERA_ID_PATTERN,
  "camera_id must be 1-64 of [A-Za-z0-9_.-], starting with a letter or digit",
);

/** A validated camera id. */
export type CameraId = z.infer<typeof CameraIdSchema>;

/** Validates a camera id taken from a URL, throwing a 400 naming the rule. */
export function parseCameraId(raw: string | undefined): CameraId {
  const decoded = raw === undefined ? "" : safeDecode(raw);
  if (!CAMERA_ID_PATTERN.test(decoded)) {
    throw new BadRequestError(
      `invalid camera id ${JSON.stringify(decoded.slice(0, 80))}: ` +
        "use 1-64 of [A-Za-z0-9_.-], starting with a letter or digit",
    );
  }
  return decoded;
}

function safeDecode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
