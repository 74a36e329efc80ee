/**
 * Face recognition as the service runs it, built from the `faces` settings section (models
 * from the detector's folder and backend): YuNet finds faces, MobileFaceNet embeds them, the
 * gallery matches them. Missing models are not fatal: frames are processed without faces and
 * {@link LoadedRecognizer.status} says why.
 *
 * @module
 */
import { join } from "node:path";
import { getModelManifest } from "../../models/registry.ts";
import type { DetectorSettings, FacesSettings } from "../config.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { FessMetrics } from "../metrics.ts";
import { createOnnxSession, type OnnxSession } from "../onnx/session.ts";
import { tuningFromSettings } from "../onnx/tuning.ts";
import type { FaceGallery } from "./gallery.ts";
import { createMobileFaceNetEmbedder } from "./mobilefacenet.ts";
import { createFaceRecognizer, type FaceRecognizer } from "./recognizer.ts";
import { createYuNetDetector } from "./yunet.ts";

/** The outcome of {@link loadRecognizer}. */
export interface LoadedRecognizer {
  /** The recognizer, or null when faces are off or their models could not load. */
  readonly recognizer: FaceRecognizer | null;
  /** `enabled`, `disabled`, or `unavailable: <reason>`, for health reports. */
  readonly status: string;
  /** Releases the model sessions. */
  close(): Promise<void>;
}

/** Dependencies of {@link loadRecognizer}. */
export interface LoadRecognizerDeps {
  readonly settings: FacesSettings;
  /** Where the models live and which backend runs them. */
  readonly models: DetectorSettings;
  readonly gallery: FaceGallery;
  readonly metrics: FessMetrics;
  readonly logger: Logger;
}

/** Loads the face models when faces are enabled; never throws. */
export async function loadRecognizer(deps: LoadRecognizerDeps): Promise<LoadedRecognizer> {
  const { settings: f, logger } = deps;
  const none = (status: string): LoadedRecognizer => ({
    recognizer: null,
    status,
    close: () => Promise.resolve(),
  });
  if (!f.enabled) return none("disabled");
  const sessions: OnnxSession[] = [];
  const close = async () => {
    for (const s of sessions.splice(0)) await s.close();
  };
  try {
    const open = async (id: string) => {
      const manifest = getModelManifest(id);
      const session = await createOnnxSession({
        modelPath: join(deps.models.models_dir, manifest.file),
        sha256: manifest.sha256 ?? undefined,
        backend: deps.models.backend,
        tuning: tuningFromSettings(deps.models),
        logger,
      });
      sessions.push(session);
      return session;
    };
    const recognizer = createFaceRecognizer({
      faceDetector: createYuNetDetector({
        session: await open(f.detector_model_id),
        scoreThreshold: f.detection_score,
      }),
      embedder: createMobileFaceNetEmbedder({ session: await open(f.embedder_model_id) }),
      gallery: deps.gallery,
      minFaceSize: f.min_face_size,
      metrics: deps.metrics,
      logger,
    });
    return { recognizer, status: "enabled", close };
  } catch (err) {
    await close();
    const reason = errorMessage(err);
    logger.error("face recognition unavailable", { reason });
    return none(`unavailable: ${reason}`);
  }
}
