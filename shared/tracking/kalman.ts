/**
 * Constant-velocity Kalman filter over a box's `(cx, cy, a, h)` — centre, aspect ratio
 * (width / height) and height — with their velocities: the 8-D state of SORT, DeepSORT and
 * ByteTrack. Noise scales with the box height, so small (far) and large (near) objects get
 * proportionate uncertainty; the aspect ratio is almost constant.
 *
 * A state is a `mean` (8 numbers) and a row-major `covariance` (64 numbers) owned by the
 * caller (one pair per track). The filter keeps only scratch buffers, so {@link predict} and
 * {@link update} allocate nothing.
 *
 * @module
 */

/** Position noise per pixel of height (as in SORT/ByteTrack). */
const STD_POSITION = 1 / 20;
/** Velocity noise per pixel of height. */
const STD_VELOCITY = 1 / 160;

/** One track's filter state, updated in place. */
export interface KalmanState {
  /** `[cx, cy, a, h, vcx, vcy, va, vh]`. */
  readonly mean: Float64Array;
  /** 8x8 covariance, row-major. */
  readonly covariance: Float64Array;
}

/** The filter: state transitions with preallocated scratch space. */
export interface KalmanFilter {
  /** A new state for a first measurement `(cx, cy, a, h)`, velocities zero. */
  initiate(cx: number, cy: number, a: number, h: number): KalmanState;
  /** Advances `state` one step; `freezeHeight` zeroes the height velocity first (lost tracks). */
  predict(state: KalmanState, freezeHeight?: boolean): void;
  /** Corrects `state` with a measurement `(cx, cy, a, h)`. */
  update(state: KalmanState, cx: number, cy: number, a: number, h: number): void;
}

/** Creates a filter (one per tracker; its scratch buffers are not shared across trackers). */
export function createKalmanFilter(): KalmanFilter {
  const s = new Float64Array(16); // innovation covariance S (4x4), then its inverse in place
  const sInv = new Float64Array(16);
  const pht = new Float64Array(32); // P H^T (8x4)
  const gain = new Float64Array(32); // K (8x4)
  const innovation = new Float64Array(4);
  const scratch = new Float64Array(32);

  return {
    initiate(cx, cy, a, h) {
      const mean = new Float64Array(8);
      mean[0] = cx;
      mean[1] = cy;
      mean[2] = a;
      mean[3] = h;
      const covariance = new Float64Array(64);
      const p = 2 * STD_POSITION * h;
      const v = 10 * STD_VELOCITY * h;
      const std = [p, p, 1e-2, p, v, v, 1e-5, v];
      for (let i = 0; i < 8; i++) covariance[i * 9] = std[i]! * std[i]!;
      return { mean, covariance };
    },

    predict({ mean, covariance: c }, freezeHeight = false) {
      if (freezeHeight) mean[7] = 0;
      const h = mean[3]!;
      for (let i = 0; i < 4; i++) mean[i] = mean[i]! + mean[i + 4]!;
      // P' = F P F^T with F = [[I, I], [0, I]]: add rows 4..7 to rows 0..3, then columns
      // 4..7 to columns 0..3 (both in place: the added rows/columns are not modified).
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 8; j++) c[i * 8 + j] = c[i * 8 + j]! + c[(i + 4) * 8 + j]!;
      }
      for (let i = 0; i < 8; i++) {
        for (let j = 0; j < 4; j++) c[i * 8 + j] = c[i * 8 + j]! + c[i * 8 + j + 4]!;
      }
      const p = STD_POSITION * h;
      const v = STD_VELOCITY * h;
      c[0] = c[0]! + p * p;
      c[9] = c[9]! + p * p;
      c[18] = c[18]! + 1e-4;
      c[27] = c[27]! + p * p;
      c[36] = c[36]! + v * v;
      c[45] = c[45]! + v * v;
      c[54] = c[54]! + 1e-10;
      c[63] = c[63]! + v * v;
    },

    update({ mean, covariance: c }, cx, cy, a, h) {
      // S = H P H^T + R: the top-left 4x4 block plus measurement noise.
      const r = STD_POSITION * mean[3]!;
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) s[i * 4 + j] = c[i * 8 + j]!;
      }
      s[0] = s[0]! + r * r;
      s[5] = s[5]! + r * r;
      s[10] = s[10]! + 1e-2;
      s[15] = s[15]! + r * r;
      invert4(s, sInv, scratch);
      for (let i = 0; i < 8; i++) {
        for (let k = 0; k < 4; k++) pht[i * 4 + k] = c[i * 8 + k]!;
      }
      // K = P H^T S^-1
      for (let i = 0; i < 8; i++) {
        for (let j = 0; j < 4; j++) {
          let sum = 0;
          for (let k = 0; k < 4; k++) sum += pht[i * 4 + k]! * sInv[k * 4 + j]!;
          gain[i * 4 + j] = sum;
        }
      }
      innovation[0] = cx - mean[0]!;
      innovation[1] = cy - mean[1]!;
      innovation[2] = a - mean[2]!;
      innovation[3] = h - mean[3]!;
      for (let i = 0; i < 8; i++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) sum += gain[i * 4 + k]! * innovation[k]!;
        mean[i] = mean[i]! + sum;
      }
      // P -= K S K^T, and K S = P H^T.
      for (let i = 0; i < 8; i++) {
        for (let j = 0; j < 8; j++) {
          let sum = 0;
          for (let k = 0; k < 4; k++) sum += pht[i * 4 + k]! * gain[j * 4 + k]!;
          c[i * 8 + j] = c[i * 8 + j]! - sum;
        }
      }
    },
  };
}

/**
 * Inverts a symmetric positive-definite 4x4 matrix `m` into `out` by Gauss-Jordan elimination
 * with partial pivoting (S is always well conditioned: R adds to its diagonal). `scratch`
 * (32 numbers) holds the augmented matrix `[m | I]`.
 */
export function invert4(
  m: Float64Array,
  out: Float64Array,
  scratch: Float64Array = new Float64Array(32),
): void {
  const a = scratch;
  a.fill(0);
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) a[i * 8 + j] = m[i * 4 + j]!;
    a[i * 8 + 4 + i] = 1;
  }
  for (let col = 0; col < 4; col++) {
    let pivot = col;
    for (let r = col + 1; r < 4; r++) {
      if (Math.abs(a[r * 8 + col]!) > Math.abs(a[pivot * 8 + col]!)) pivot = r;
    }
    if (pivot !== col) {
      for (let j = 0; j < 8; j++) {
        const t = a[col * 8 + j]!;
        a[col * 8 + j] = a[pivot * 8 + j]!;
        a[pivot * 8 + j] = t;
      }
    }
    const d = a[col * 8 + col]!;
    if (d === 0) throw new RangeError("singular matrix");
    for (let j = 0; j < 8; j++) a[col * 8 + j] = a[col * 8 + j]! / d;
    for (let r = 0; r < 4; r++) {
      if (r === col) continue;
      const f = a[r * 8 + col]!;
      if (f === 0) continue;
      for (let j = 0; j < 8; j++) a[r * 8 + j] = a[r * 8 + j]! - f * a[col * 8 + j]!;
    }
  }
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) out[i * 4 + j] = a[i * 8 + 4 + j]!;
  }
}
