/**
 * The model manifests shipped with FESS, by id. The JSON files are imported as data and
 * validated on use (not at import), so a bad manifest fails with the schema's issue list.
 *
 * @module
 */
import { type ModelManifest, ModelManifestSchema } from "../shared/models/manifest.ts";
import mobilefacenet from "./mobilefacenet-128.json" with { type: "json" };
import rtmdetNanoPerson from "./rtmdet-nano-person.json" with { type: "json" };
import rtmdetSCoco from "./rtmdet-s-coco.json" with { type: "json" };
import rtmdetTinyCoco from "./rtmdet-tiny-coco.json" with { type: "json" };
import yunet from "./yunet-face.json" with { type: "json" };

const RAW: readonly unknown[] = [
  rtmdetNanoPerson,
  rtmdetTinyCoco,
  rtmdetSCoco,
  yunet,
  mobilefacenet,
];

/** Every shipped manifest, validated. Throws naming the manifest when one is invalid. */
export function listModelManifests(): ModelManifest[] {
  return RAW.map((raw) => {
    const parsed = ModelManifestSchema.safeParse(raw);
    if (!parsed.success) {
      const id = (raw as { id?: unknown }).id;
      throw new Error(`model manifest ${String(id)} is invalid: ${parsed.error.message}`);
    }
    return parsed.data;
  });
}

/** The shipped manifest with `id`; throws listing the known ids otherwise. */
export function getModelManifest(id: string): ModelManifest {
  const all = listModelManifests();
  const found = all.find((m) => m.id === id);
  if (!found) {
    throw new Error(
      `unknown model id ${JSON.stringify(id)}; known: ${all.map((m) => m.id).join(", ")}`,
    );
  }
  return found;
}
