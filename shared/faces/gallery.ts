/**
 * The face gallery: known faces enrolled with metadata, stored in the cache (Redis in
 * production) and mirrored in an in-process {@link FaceIndex} so matching never touches Redis.
 *
 * Consistency model: every write goes through a gallery, which writes Redis first (so a write
 * that fails returns 503 and changes nothing), then its own index, then bumps `faces:version`
 * and announces the change on `faces:changes`. Other instances apply announced changes by
 * re-reading that face; after any reconnect (when announcements may have been missed) they
 * reload everything: when the cache connection is ready again, and when the subscription to
 * `faces:changes` is live again (it has a connection of its own, which may come back later).
 * Reads (get, list, match) are served from the index and keep working while Redis is down.
 *
 * Hit/miss accounting (`fess_face_cache_hits_total` / `..._misses_total`): a lookup by id that
 * finds the face, or a match above the threshold, is a hit; otherwise a miss.
 *
 * @module
 */
import { z } from "zod";
import type { CacheStore } from "../cache/cache_store.ts";
import { decodeFloat32LE, decodeUtf8, encodeFloat32LE } from "../cache/codec.ts";
import { FACE_CHANGES_CHANNEL, FACE_IDS_KEY, FACE_VERSION_KEY, faceKey } from "../cache/keys.ts";
import { ConflictError, FessError, ValidationError } from "../errors.ts";
import { formatIssues } from "../http.ts";
import type { Logger } from "../logger.ts";
import type { FessMetrics } from "../metrics.ts";
import {
  createEncodingCipher,
  type EncodingCipher,
  FaceEncryptionError,
  looksSealed,
} from "./encoding_cipher.ts";
import { createFaceIndex, type FaceIndex, type FaceIndexEntry } from "./face_index.ts";
import {
  DEFAULT_FACE_DIM,
  EnrolMetadataSchema,
  FaceIdSchema,
  type FaceMetadata,
  type FaceMetadataInput,
  FaceMetadataSchema,
  l2Normalize,
  validateEncoding,
} from "./face_schemas.ts";

/**
 * Default cosine-similarity threshold for MobileFaceNet-128 on aligned faces: on the group photo
 * a mirrored/rescaled view of a face scores 0.70-0.96 against itself and different people at
 * most ~0.55 (see tests/recognition_test.ts).
 */
export const DEFAULT_MATCH_THRESHOLD = 0.6;

/** Options of {@link createFaceGallery}. */
export interface FaceGalleryOptions {
  /** Where faces are stored (Redis, or memory when no Redis is configured). */
  readonly cache: CacheStore;
  /** Cosine similarity at or above which a face matches. Default {@link DEFAULT_MATCH_THRESHOLD}. */
  readonly threshold?: number;
  /** Encoding size. Default 128. */
  readonly dim?: number;
  /** Most faces the gallery accepts. Default 100,000. */
  readonly maxFaces?: number;
  /** Secret (>= 16 chars) to encrypt encodings at rest with AES-256-GCM; none: plaintext. */
  readonly encryptionKey?: string;
  /** TTL of each enrolled face in seconds; none: faces persist until deleted. */
  readonly ttlSeconds?: number;
  /** Where hit/miss counts go. */
  readonly metrics?: Pick<FessMetrics, "faceCacheHits" | "faceCacheMisses">;
  /** Logger (face ids and counts only; never encodings). */
  readonly logger: Logger;
  /** Clock in epoch ms, for tests. */
  readonly now?: () => number;
}

/** A face as returned by reads. */
export interface FaceRecord {
  /** The face id. */
  readonly faceId: string;
  /** Its metadata. */
  readonly metadata: FaceMetadata;
  /** ISO-8601 time it was written. */
  readonly cachedAt: string;
}

/** What {@link FaceGallery.enrol} takes. */
export interface EnrolInput {
  /** Id to store the face under. */
  readonly faceId: string;
  /** The embedding (validated: `dim` finite values, non-zero). */
  readonly encoding: ArrayLike<number>;
  /** Metadata (validated; `authorized` defaults to false). */
  readonly metadata?: FaceMetadataInput;
  /** Replace an existing face with this id instead of failing with 409. */
  readonly overwrite?: boolean;
}

/** Result of a match. */
export interface FaceMatch {
  /** Whether the best similarity reached the threshold. */
  readonly matched: boolean;
  /** Id of the matched face, null when not matched. */
  readonly faceId: string | null;
  /** Metadata of the matched face, null when not matched. */
  readonly metadata: FaceMetadata | null;
  /** Best cosine similarity found (-1 when the gallery is empty). */
  readonly similarity: number;
  /** Threshold applied. */
  readonly threshold: number;
}

/** The face gallery. */
export interface FaceGallery {
  /** Encoding size. */
  readonly dim: number;
  /** Default match threshold. */
  readonly threshold: number;
  /** Faces in the in-process index. */
  readonly size: number;
  /** Whether the index has been loaded from the cache since the last (re)connect. */
  readonly loaded: boolean;
  /**
   * Loads the index and subscribes to changes. A cache outage is logged and retried on
   * reconnect; an encryption problem (wrong key, tampering) rejects.
   */
  start(): Promise<void>;
  /** Rebuilds the index from the cache; resolves to the number of faces loaded. */
  reload(): Promise<number>;
  /** Stores a face; 409 when the id exists and `overwrite` is not set, 503 when the cache is down. */
  enrol(input: EnrolInput): Promise<{ record: FaceRecord; created: boolean }>;
  /** Whether a face with this id is in the index (not counted as a lookup). */
  has(faceId: string): boolean;
  /** A face by id from the index (counts a hit or miss), or null. */
  get(faceId: string): FaceRecord | null;
  /** The stored encoding of a face, read (and decrypted) from the cache; null when absent. */
  getEncoding(faceId: string): Promise<Float32Array | null>;
  /** Faces sorted by id. */
  list(options?: { offset?: number; limit?: number }): { items: FaceRecord[]; total: number };
  /** Deletes a face; resolves to whether it existed. 503 when the cache is down. */
  delete(faceId: string): Promise<boolean>;
  /** Best match of an encoding against every face (counts a hit or miss). */
  match(encoding: ArrayLike<number>, options?: { threshold?: number }): FaceMatch;
  /** Unsubscribes; does not close the cache. */
  close(): Promise<void>;
}

/** 507: the gallery holds `maxFaces` faces. */
export class GalleryFullError extends FessError {
  constructor(maxFaces: number) {
    super(507, "gallery_full", `the face gallery is full (${maxFaces} faces)`, {
      detail: { max_faces: maxFaces },
    });
  }
}

const ChangeSchema = z.object({
  op: z.enum(["put", "delete"]),
  id: z.string(),
  origin: z.string(),
  version: z.number().optional(),
});

const utf8 = new TextEncoder();

/** Additional authenticated data binding an encrypted encoding to its id and metadata. */
function aadOf(faceId: string, metadataJson: string, cachedAt: string): Uint8Array {
  return utf8.encode(`fess-face-v1\u0000${faceId}\u0000${metadataJson}\u0000${cachedAt}`);
}

/** Validates a face id, throwing 422. */
export function parseFaceId(raw: string): string {
  const r = FaceIdSchema.safeParse(raw);
  if (!r.success) {
    throw new ValidationError(r.error.issues[0]?.message ?? "invalid face_id", {
      detail: { issues: formatIssues(r.error.issues) },
    });
  }
  return r.data;
}

/** Creates a gallery over a cache. Nothing is loaded until {@link FaceGallery.start}. */
export function createFaceGallery(options: FaceGalleryOptions): FaceGallery {
  const { cache, metrics } = options;
  const dim = options.dim ?? DEFAULT_FACE_DIM;
  const threshold = options.threshold ?? DEFAULT_MATCH_THRESHOLD;
  const maxFaces = options.maxFaces ?? 100_000;
  const now = options.now ?? Date.now;
  const log = options.logger.child({ component: "face_gallery" });
  const origin = crypto.randomUUID();
  if (!(threshold >= -1 && threshold <= 1)) throw new RangeError("threshold must be in [-1, 1]");
  if (options.ttlSeconds !== undefined && !(options.ttlSeconds > 0)) {
    throw new RangeError("ttlSeconds must be positive");
  }

  let index: FaceIndex = createFaceIndex(dim);
  let cipher: Promise<EncodingCipher | null> | null = null;
  let loaded = false;
  let started = false;
  let reloading: Promise<number> | null = null;
  /** Ids changed while a reload was running, refreshed after it swaps in. */
  let touchedDuringReload: Set<string> | null = null;
  const refreshChains = new Map<string, Promise<void>>();
  const cleanups: (() => Promise<void> | void)[] = [];

  const getCipher = () =>
    cipher ??= options.encryptionKey === undefined
      ? Promise.resolve(null)
      : createEncodingCipher(options.encryptionKey);

  const expiresAtOf = (cachedAt: string) =>
    options.ttlSeconds === undefined ? undefined : Date.parse(cachedAt) + options.ttlSeconds * 1000;

  const toRecord = (e: FaceIndexEntry): FaceRecord => ({
    faceId: e.faceId,
    metadata: e.metadata,
    cachedAt: e.cachedAt,
  });

  /** Decodes (and decrypts) a stored hash; throws FaceEncryptionError / RangeError. */
  async function decodeStored(
    faceId: string,
    h: Record<string, Uint8Array>,
  ): Promise<{ entry: FaceIndexEntry; encoding: Float32Array }> {
    const enc = h.encoding, meta = h.metadata, at = h.cached_at;
    if (!enc || !meta || !at) throw new RangeError(`face ${faceId} is missing fields`);
    const metadataJson = decodeUtf8(meta);
    const cachedAt = decodeUtf8(at);
    const c = await getCipher();
    let plain: Uint8Array;
    if (c) plain = await c.open(enc, aadOf(faceId, metadataJson, cachedAt));
    else if (looksSealed(enc) && enc.byteLength !== dim * 4) {
      throw new FaceEncryptionError(
        `face ${faceId} is stored encrypted but no encryption key is configured`,
      );
    } else plain = enc;
    const encoding = decodeFloat32LE(plain, dim);
    const metadata = FaceMetadataSchema.parse(JSON.parse(metadataJson));
    return { entry: { faceId, metadata, cachedAt, expiresAt: expiresAtOf(cachedAt) }, encoding };
  }

  function count(hit: boolean): void {
    if (hit) metrics?.faceCacheHits.inc();
    else metrics?.faceCacheMisses.inc();
  }

  function expire(): void {
    if (options.ttlSeconds !== undefined) index.expire(now());
  }

  async function reloadOnce(): Promise<number> {
    touchedDuringReload = new Set();
    try {
      const ids = await cache.setMembers(FACE_IDS_KEY);
      const next = createFaceIndex(dim, Math.max(1024, ids.length));
      const stale: string[] = [];
      const BATCH = 512;
      for (let i = 0; i < ids.length; i += BATCH) {
        const slice = ids.slice(i, i + BATCH);
        // Concurrent reads share round trips through auto-pipelining.
        const hashes = await Promise.all(slice.map((id) => cache.getHash(faceKey(id))));
        for (let j = 0; j < slice.length; j++) {
          const id = slice[j]!, h = hashes[j];
          if (!h) {
            stale.push(id);
            continue;
          }
          const { entry, encoding } = await decodeStored(id, h);
          next.upsert(entry, l2Normalize(encoding));
        }
      }
      if (stale.length > 0) {
        // Faces that expired (TTL) leave their id in the set; tidy it.
        await cache.setRemove(FACE_IDS_KEY, ...stale).catch(() => {});
      }
      index = next;
      loaded = true;
      const touched = touchedDuringReload;
      touchedDuringReload = null;
      for (const id of touched) void refresh(id);
      log.info("face gallery loaded", { faces: next.size, stale: stale.length });
      return next.size;
    } finally {
      touchedDuringReload = null;
    }
  }

  function reload(): Promise<number> {
    reloading ??= reloadOnce().finally(() => (reloading = null));
    return reloading;
  }

  /** Reloads after announcements may have been missed. */
  function reloadAfterGap(): void {
    // A reload already running may have read the cache before the gap ended: run another.
    const running = reloading;
    (running ? running.catch(() => 0).then(reload) : reload()).catch((err) =>
      log.error("gallery reload after reconnect failed", { error: err })
    );
  }

  /** Re-reads one face from the cache into the index (serialised per id). */
  function refresh(faceId: string): Promise<void> {
    touchedDuringReload?.add(faceId);
    const prev = refreshChains.get(faceId) ?? Promise.resolve();
    const next = prev.then(async () => {
      try {
        const h = await cache.getHash(faceKey(faceId));
        if (!h) {
          index.remove(faceId);
          return;
        }
        const { entry, encoding } = await decodeStored(faceId, h);
        index.upsert(entry, l2Normalize(encoding));
      } catch (err) {
        log.error("could not apply a gallery change", { face_id: faceId, error: err });
      }
    }).finally(() => {
      if (refreshChains.get(faceId) === next) refreshChains.delete(faceId);
    });
    refreshChains.set(faceId, next);
    return next;
  }

  async function announce(op: "put" | "delete", id: string): Promise<void> {
    try {
      const version = await cache.incr(FACE_VERSION_KEY);
      await cache.publish(FACE_CHANGES_CHANNEL, JSON.stringify({ op, id, origin, version }));
    } catch (err) {
      // The write itself succeeded; peers catch up at their next reload.
      log.warn("could not announce a gallery change", { face_id: id, op, error: err });
    }
  }

  function onChange(message: string): void {
    let change: z.infer<typeof ChangeSchema>;
    try {
      change = ChangeSchema.parse(JSON.parse(message));
    } catch {
      log.warn("ignoring a malformed gallery change notice");
      return;
    }
    if (change.origin === origin) return;
    if (change.op === "delete") {
      touchedDuringReload?.add(change.id);
      index.remove(change.id);
    } else void refresh(change.id);
  }

  const gallery: FaceGallery = {
    dim,
    threshold,
    get size() {
      expire();
      return index.size;
    },
    get loaded() {
      return loaded;
    },
    async start() {
      if (started) return;
      started = true;
      await getCipher();
      const unsubscribe = await cache.subscribe(FACE_CHANGES_CHANNEL, onChange, {
        // Before the cache connection is back, its own "ready" reloads, with this already live.
        onResubscribe: () => {
          if (cache.state === "ready") reloadAfterGap();
        },
      }).catch((err) => {
        log.warn("could not subscribe to gallery changes", { error: err });
        return null;
      });
      if (unsubscribe) cleanups.push(unsubscribe);
      cleanups.push(cache.onStateChange((state) => {
        if (state === "ready") {
          // Announcements may have been missed while disconnected.
          reloadAfterGap();
        } else if (state === "reconnecting") {
          loaded = false;
        }
      }));
      try {
        await reload();
      } catch (err) {
        if (err instanceof FaceEncryptionError) throw err;
        log.warn("face gallery not loaded yet (cache unavailable); will load on reconnect", {
          error: err,
        });
      }
    },
    reload,
    async enrol(input) {
      const faceId = parseFaceId(input.faceId);
      // New metadata meets the enrolment rules; stored faces load with the lenient schema.
      const parsed = EnrolMetadataSchema.safeParse(input.metadata ?? {});
      if (!parsed.success) {
        throw new ValidationError("metadata failed validation", {
          detail: { issues: formatIssues(parsed.error.issues) },
        });
      }
      const metadata = parsed.data;
      const encoding = validateEncoding(input.encoding, dim);
      expire();
      const existed = index.get(faceId) !== undefined;
      if (existed && !input.overwrite) {
        throw new ConflictError(`face ${faceId} already exists; use overwrite=true to replace it`);
      }
      if (!existed && index.size >= maxFaces) throw new GalleryFullError(maxFaces);
      const cachedAt = new Date(now()).toISOString();
      const metadataJson = JSON.stringify(metadata);
      const c = await getCipher();
      const plain = encodeFloat32LE(encoding);
      const stored = c ? await c.seal(plain, aadOf(faceId, metadataJson, cachedAt)) : plain;
      const written = await cache.putHash(
        faceKey(faceId),
        { encoding: stored, metadata: metadataJson, cached_at: cachedAt },
        {
          ttlSeconds: options.ttlSeconds,
          ifAbsent: !input.overwrite,
          index: { key: FACE_IDS_KEY, member: faceId },
        },
      );
      if (!written) {
        // Another instance enrolled it and we have not heard yet.
        void refresh(faceId);
        throw new ConflictError(`face ${faceId} already exists; use overwrite=true to replace it`);
      }
      const entry: FaceIndexEntry = {
        faceId,
        metadata,
        cachedAt,
        expiresAt: expiresAtOf(cachedAt),
      };
      touchedDuringReload?.add(faceId);
      index.upsert(entry, l2Normalize(encoding));
      await announce("put", faceId);
      log.info("face enrolled", { face_id: faceId, overwrite: existed });
      return { record: toRecord(entry), created: !existed };
    },
    has(faceId) {
      expire();
      return index.get(faceId) !== undefined;
    },
    get(faceId) {
      expire();
      const e = index.get(faceId);
      count(e !== undefined);
      return e ? toRecord(e) : null;
    },
    async getEncoding(faceId) {
      const h = await cache.getHash(faceKey(parseFaceId(faceId)));
      if (!h) return null;
      return (await decodeStored(faceId, h)).encoding;
    },
    list(opts = {}) {
      expire();
      const offset = Math.max(0, Math.floor(opts.offset ?? 0));
      const limit = Math.max(0, Math.floor(opts.limit ?? 100));
      return { items: index.page(offset, limit).map(toRecord), total: index.size };
    },
    async delete(faceId) {
      const id = parseFaceId(faceId);
      const existed = await cache.deleteHash(faceKey(id), {
        index: { key: FACE_IDS_KEY, member: id },
      });
      touchedDuringReload?.add(id);
      const inIndex = index.remove(id);
      await announce("delete", id);
      if (existed || inIndex) log.info("face deleted", { face_id: id });
      return existed || inIndex;
    },
    match(encoding, opts = {}) {
      const t = opts.threshold ?? threshold;
      const unit = l2Normalize(validateEncoding(encoding, dim));
      expire();
      const hit = index.search(unit);
      const matched = hit !== null && hit.similarity >= t;
      count(matched);
      return {
        matched,
        faceId: matched ? hit.entry.faceId : null,
        metadata: matched ? hit.entry.metadata : null,
        similarity: hit?.similarity ?? -1,
        threshold: t,
      };
    },
    async close() {
      const fns = cleanups.splice(0);
      for (const fn of fns) await fn();
      await Promise.all(refreshChains.values());
    },
  };
  return gallery;
}
