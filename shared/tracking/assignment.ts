/**
 * Optimal one-to-one assignment of rows (tracks) to columns (detections) under a cost limit:
 * the `lapjv(cost, extend_cost=True, cost_limit=L)` call of ByteTrack, solved with the
 * Hungarian algorithm (shortest augmenting paths with potentials, O(n² m)).
 *
 * Why this is exact: leaving a row and a column unmatched costs `L` in lapjv's extended
 * matrix (L/2 each). Capping every cost at `L` and solving the rectangular problem gives the
 * same optimum, because a row assigned to a capped cell pays exactly what leaving it and that
 * column unmatched would; the remaining unmatched columns add a constant. Pairs whose real cost
 * is `>= L` are then reported unmatched.
 *
 * Greedy matching was not chosen: with crossing people it pairs the first track with the
 * best-looking box and can leave the second with none, swapping ids.
 *
 * @module
 */

/** Result of {@link assign}: for each row the matched column, or -1. */
export interface Assignment {
  /** `rowToCol[i]` is the column of row `i`, or -1 when unmatched. */
  readonly rowToCol: Int32Array;
  /** `colToRow[j]` is the row of column `j`, or -1 when unmatched. */
  readonly colToRow: Int32Array;
}

/**
 * Minimum-cost matching of a `rows` x `cols` row-major `cost` matrix, matching only pairs with
 * cost strictly below `limit`. Costs must be finite (use `limit` or more for forbidden pairs).
 */
export function assign(cost: Float64Array, rows: number, cols: number, limit: number): Assignment {
  if (cost.length !== rows * cols) {
    throw new RangeError(`cost has ${cost.length} cells, expected ${rows}x${cols}`);
  }
  const rowToCol = new Int32Array(rows).fill(-1);
  const colToRow = new Int32Array(cols).fill(-1);
  if (rows === 0 || cols === 0) return { rowToCol, colToRow };
  // The solver needs n <= m: solve the transpose when there are more rows than columns.
  const transposed = rows > cols;
  const n = transposed ? cols : rows;
  const m = transposed ? rows : cols;
  const capped = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const c = transposed ? cost[j * cols + i]! : cost[i * cols + j]!;
      capped[i * m + j] = c < limit ? c : limit;
    }
  }
  const match = hungarian(n, m, capped);
  for (let i = 0; i < n; i++) {
    const j = match[i]!;
    const r = transposed ? j : i;
    const c = transposed ? i : j;
    if (cost[r * cols + c]! < limit) {
      rowToCol[r] = c;
      colToRow[c] = r;
    }
  }
  return { rowToCol, colToRow };
}

/** Hungarian algorithm for an n x m row-major matrix, n <= m: for each row, its column. */
function hungarian(n: number, m: number, a: Float64Array): Int32Array {
  // 1-based, as in the classic formulation: p[j] is the row matched to column j (0 = none).
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = a[(i0 - 1) * m + j - 1]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!] = u[p[j]!]! + delta;
          v[j] = v[j]! - delta;
        } else minv[j] = minv[j]! - delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Int32Array(n);
  for (let j = 1; j <= m; j++) if (p[j]! > 0) rowToCol[p[j]! - 1] = j - 1;
  return rowToCol;
}
