/**
 * The in-process face index: one contiguous Float32Array of L2-normalised rows, so a match is
 * a straight scan of dot products over cache-friendly memory (no Redis round trip, no object
 * per face). Rows are removed by moving the last row into the hole, keeping the matrix dense.
 *
 * @module
 */
import type { FaceMetadata } from "./face_schemas.ts";

/** What the index keeps besides the vector. */
export interface FaceIndexEntry {
  /** The face id. */
  readonly faceId: string;
  /** Its metadata. */
  readonly metadata: FaceMetadata;
  /** ISO-8601 time it was written. */
  readonly cachedAt: string;
  /** Epoch ms after which it is gone (TTL), or undefined. */
  readonly expiresAt?: number;
}

/** Best row of a search. */
export interface IndexHit {
  /** The entry. */
  readonly entry: FaceIndexEntry;
  /** Cosine similarity in [-1, 1]. */
  readonly similarity: number;
}

/** A dense matrix of normalised encodings with their entries. */
export interface FaceIndex {
  /** Vector size. */
  readonly dim: number;
  /** Rows in use. */
  readonly size: number;
  /** Inserts or replaces a row; `unit` must already be L2-normalised. */
  upsert(entry: FaceIndexEntry, unit: Float32Array): void;
  /** Removes a row; returns whether it existed. */
  remove(faceId: string): boolean;
  /** The entry of a face. */
  get(faceId: string): FaceIndexEntry | undefined;
  /** Best cosine similarity to `unit` (L2-normalised), or null when empty. */
  search(unit: Float32Array): IndexHit | null;
  /** Entries sorted by face id, from `offset`, at most `limit`. */
  page(offset: number, limit: number): FaceIndexEntry[];
  /** Drops rows whose `expiresAt` is at or before `now`; returns how many. */
  expire(now: number): number;
}

/** Creates an empty index of `dim`-D vectors. */
export function createFaceIndex(dim: number, initialCapacity = 1024): FaceIndex {
  let capacity = Math.max(16, initialCapacity);
  let matrix = new Float32Array(capacity * dim);
  const entries: FaceIndexEntry[] = [];
  const rowOf = new Map<string, number>();
  let sortedIds: string[] | null = null;
  let nextExpiry = Infinity;

  const grow = () => {
    capacity *= 2;
    const next = new Float32Array(capacity * dim);
    next.set(matrix);
    matrix = next;
  };

  const index: FaceIndex = {
    dim,
    get size() {
      return entries.length;
    },
    upsert(entry, unit) {
      if (unit.length !== dim) throw new RangeError(`expected ${dim} values, got ${unit.length}`);
      let row = rowOf.get(entry.faceId);
      if (row === undefined) {
        if (entries.length === capacity) grow();
        row = entries.length;
        entries.push(entry);
        rowOf.set(entry.faceId, row);
        sortedIds = null;
      } else {
        entries[row] = entry;
      }
      matrix.set(unit, row * dim);
      if (entry.expiresAt !== undefined && entry.expiresAt < nextExpiry) {
        nextExpiry = entry.expiresAt;
      }
    },
    remove(faceId) {
      const row = rowOf.get(faceId);
      if (row === undefined) return false;
      const last = entries.length - 1;
      if (row !== last) {
        const moved = entries[last]!;
        entries[row] = moved;
        rowOf.set(moved.faceId, row);
        matrix.copyWithin(row * dim, last * dim, (last + 1) * dim);
      }
      entries.pop();
      rowOf.delete(faceId);
      sortedIds = null;
      return true;
    },
    get: (faceId) => {
      const row = rowOf.get(faceId);
      return row === undefined ? undefined : entries[row];
    },
    search(q) {
      const n = entries.length;
      if (n === 0) return null;
      const m = matrix;
      let best = -Infinity;
      let bestRow = 0;
      // Four partial sums break the dependency chain of one accumulator.
      const d4 = dim - (dim % 4);
      for (let r = 0, off = 0; r < n; r++, off += dim) {
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        let k = 0;
        for (; k < d4; k += 4) {
          s0 += m[off + k]! * q[k]!;
          s1 += m[off + k + 1]! * q[k + 1]!;
          s2 += m[off + k + 2]! * q[k + 2]!;
          s3 += m[off + k + 3]! * q[k + 3]!;
        }
        for (; k < dim; k++) s0 += m[off + k]! * q[k]!;
        const s = s0 + s1 + s2 + s3;
        if (s > best) {
          best = s;
          bestRow = r;
        }
      }
      // Rounding can push a self-match a hair past 1.
      return { entry: entries[bestRow]!, similarity: Math.max(-1, Math.min(1, best)) };
    },
    page(offset, limit) {
      sortedIds ??= [...rowOf.keys()].sort();
      return sortedIds.slice(offset, offset + limit).map((id) => entries[rowOf.get(id)!]!);
    },
    expire(now) {
      if (now < nextExpiry) return 0;
      const gone = entries.filter((e) => e.expiresAt !== undefined && e.expiresAt <= now);
      for (const e of gone) index.remove(e.faceId);
      nextExpiry = Infinity;
      for (const e of entries) {
        if (e.expiresAt !== undefined && e.expiresAt < nextExpiry) nextExpiry = e.expiresAt;
      }
      return gone.length;
    },
  };
  return index;
}
