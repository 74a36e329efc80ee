/**
 * Replica-independent keys for rule alerts, so a camera that moves to another replica
 * (failover, rebalancing) does not alert again for what it already alerted on. Track ids are
 * per replica and per camera record, so they cannot be keys; two other things can:
 *
 * - **a face id** (a face rule whose track matched a gallery face): the alert is *claimed*
 *   under `{camera}:{rule}:face:{face_id}` (`SET NX PX` for the rule's cooldown), so the same
 *   person never alerts twice within the cooldown on that camera, whichever replica and track;
 * - **where the object stands** (every other alert: `enter`, `dwell`, `unknown_face`): each
 *   alert *marks* the cell of its box's bottom-centre on a {@link GRID} x {@link GRID} grid,
 *   `{camera}:{rule}:{class}:cell:{gx}.{gy}`, as held by the camera record that raised it, for
 *   the rule's cooldown. A camera record only consults marks for tracks that were already in
 *   view when it started (its *inherited* tracks, see `shared/pipeline/camera_scene.ts`): such
 *   a track's alert is suppressed when another record marked its cell or a neighbouring one.
 *   Objects that appear later were never seen by another replica and alert normally.
 *
 * `enter` is never raised for inherited tracks (the rules engine does not arm it: they were
 * there before), so marks matter for `dwell` and `unknown_face`.
 *
 * What remains (documented in docs/SCENE.md): an inherited object that moved more than a cell
 * since its alert elsewhere alerts again; two strangers standing within a cell of each other
 * at a takeover share one mark; a camera served by two replicas at once (a split brain) is not
 * protected.
 *
 * @module
 */
import type { BoundingBox } from "../events.ts";
import { bottomCentre } from "../rules/polygon.ts";

/** Cells per side of the position grid (normalised frame coordinates). */
export const GRID = 24;

/** What the key of one alert needs. */
export interface AlertKeyInput {
  readonly cameraId: string;
  readonly ruleId: string;
  readonly className: string;
  /** The gallery face of the track (face rules), else null. */
  readonly faceId: string | null;
  readonly bbox: BoundingBox;
  readonly frameWidth: number;
  readonly frameHeight: number;
}

/** How an alert is de-duplicated across replicas. */
export type AlertKeys =
  | { readonly kind: "face"; readonly claim: string }
  | {
    readonly kind: "cell";
    /** The cell the alert marks. */
    readonly mark: string;
    /** The cell and its neighbours, consulted for inherited tracks. */
    readonly around: readonly string[];
  };

/** The de-duplication keys of one alert. */
export function alertKeys(a: AlertKeyInput): AlertKeys {
  const prefix = `${a.cameraId}:${a.ruleId}`;
  if (a.faceId !== null) return { kind: "face", claim: `${prefix}:face:${a.faceId}` };
  const [x, y] = bottomCentre(a.bbox, a.frameWidth, a.frameHeight);
  const gx = Math.floor(x * GRID);
  const gy = Math.floor(y * GRID);
  const cell = (cx: number, cy: number) => `${prefix}:${a.className}:cell:${cx}.${cy}`;
  const around: string[] = [];
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const cx = gx + dx, cy = gy + dy;
      if (cx >= 0 && cy >= 0 && cx < GRID && cy < GRID) around.push(cell(cx, cy));
    }
  }
  return { kind: "cell", mark: cell(gx, gy), around };
}
