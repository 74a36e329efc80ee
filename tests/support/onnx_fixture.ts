/**
 * Hand-written ONNX models for tests. No COCO raw-head RTMDet export exists here, so this writes
 * the protobuf bytes of a tiny graph whose outputs ARE raw-head tensors (per-stride class logits
 * and box distances), letting the real onnxruntime backends drive the raw-head decoder end to end.
 *
 * The graph: `m = ReduceMean(input, axes=[1,2,3])` (shape [N,1,1,1]); for each stride s,
 * `cls_s = CLS_s + m` and `reg_s = REG_s + 0*m`, where CLS_s/REG_s are constants of shape
 * [1,C,H/s,W/s] and [1,4,H/s,W/s]. Broadcasting gives every batch item its own outputs, and
 * the logits shift by the frame's mean input value, so batch items differ predictably.
 *
 * @module
 */

// ---- a minimal protobuf writer (only what ONNX needs: varints, length-delimited, packed) ----

class Writer {
  readonly bytes: number[] = [];
  varint(value: number | bigint): this {
    let v = BigInt(value);
    if (v < 0n) v = (1n << 64n) + v;
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (v > 0n);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, value: number): this {
    return this.tag(field, 0).varint(value);
  }
  bytesField(field: number, data: Uint8Array | number[]): this {
    this.tag(field, 2).varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }
  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytesField(field, inner.bytes);
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const FLOAT = 1;

/** A float tensor constant. */
export interface FixtureTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

interface FixtureNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly output: string;
  readonly intsAttrs?: Record<string, readonly number[]>;
  readonly intAttrs?: Record<string, number>;
}

function tensorProto(w: Writer, t: FixtureTensor): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, FLOAT);
  w.string(8, t.name);
  w.bytesField(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function valueInfo(w: Writer, name: string, dims?: readonly (number | string)[]): void {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, FLOAT);
      if (dims) {
        tensor.message(2, (shape) => {
          for (const d of dims) {
            shape.message(1, (dim) => (typeof d === "number" ? dim.int(1, d) : dim.string(2, d)));
          }
        });
      }
    }));
}

/** Encodes a single-graph ONNX model (IR 7, opset 13) from nodes and float initializers. */
export function encodeOnnxModel(spec: {
  readonly input: { readonly name: string; readonly dims: readonly (number | string)[] };
  readonly outputs: readonly string[];
  readonly initializers: readonly FixtureTensor[];
  readonly nodes: readonly FixtureNode[];
}): Uint8Array {
  const model = new Writer();
  model.int(1, 7); // ir_version
  model.string(2, "fess-test-fixture");
  model.message(7, (g) => {
    spec.nodes.forEach((n, i) => {
      g.message(1, (node) => {
        for (const input of n.inputs) node.string(1, input);
        node.string(2, n.output);
        node.string(3, `n${i}_${n.op}`);
        node.string(4, n.op);
        for (const [name, values] of Object.entries(n.intsAttrs ?? {})) {
          node.message(5, (a) => {
            a.string(1, name);
            for (const v of values) a.int(8, v);
            a.int(20, 7); // INTS
          });
        }
        for (const [name, value] of Object.entries(n.intAttrs ?? {})) {
          node.message(5, (a) => {
            a.string(1, name);
            a.int(3, value);
            a.int(20, 2); // INT
          });
        }
      });
    });
    g.string(2, "fixture");
    for (const t of spec.initializers) g.message(5, (w) => tensorProto(w, t));
    g.message(11, (w) => valueInfo(w, spec.input.name, spec.input.dims));
    for (const o of spec.outputs) g.message(12, (w) => valueInfo(w, o));
  });
  model.message(8, (op) => op.string(1, "").int(2, 13));
  return model.finish();
}

/** One prior cell with per-class logits and distances (l, t, r, b). */
export interface FixtureCell {
  readonly stride: number;
  readonly row: number;
  readonly col: number;
  /** Logit per class; classes not listed keep the background logit. */
  readonly logits: readonly number[];
  readonly distances: readonly [number, number, number, number];
}

/** Options of {@link buildRawHeadFixture}. */
export interface RawHeadFixtureOptions {
  readonly inputSize: number;
  readonly numClasses: number;
  readonly strides?: readonly number[];
  readonly cells: readonly FixtureCell[];
  /** Logit of every other cell/class (default -10). */
  readonly background?: number;
}

/** Builds a raw-head RTMDet stand-in; outputs are named `cls_<s>` and `reg_<s>`. */
export function buildRawHeadFixture(options: RawHeadFixtureOptions): Uint8Array {
  const strides = options.strides ?? [8, 16, 32];
  const c = options.numClasses;
  const initializers: FixtureTensor[] = [{ name: "zero", dims: [], data: new Float32Array([0]) }];
  const nodes: FixtureNode[] = [
    {
      op: "ReduceMean",
      inputs: ["input"],
      output: "m",
      intsAttrs: { axes: [1, 2, 3] },
      intAttrs: { keepdims: 1 },
    },
    { op: "Mul", inputs: ["m", "zero"], output: "m0" },
  ];
  const outputs: string[] = [];
  for (const s of strides) {
    const g = options.inputSize / s;
    const cls = new Float32Array(c * g * g).fill(options.background ?? -10);
    const reg = new Float32Array(4 * g * g).fill(1);
    for (const cell of options.cells.filter((x) => x.stride === s)) {
      const i = cell.row * g + cell.col;
      cell.logits.forEach((v, k) => (cls[k * g * g + i] = v));
      cell.distances.forEach((v, k) => (reg[k * g * g + i] = v));
    }
    initializers.push({ name: `CLS_${s}`, dims: [1, c, g, g], data: cls });
    initializers.push({ name: `REG_${s}`, dims: [1, 4, g, g], data: reg });
    nodes.push({ op: "Add", inputs: [`CLS_${s}`, "m"], output: `cls_${s}` });
    nodes.push({ op: "Add", inputs: [`REG_${s}`, "m0"], output: `reg_${s}` });
    outputs.push(`cls_${s}`, `reg_${s}`);
  }
  return encodeOnnxModel({
    input: { name: "input", dims: ["batch", 3, options.inputSize, options.inputSize] },
    outputs,
    initializers,
    nodes,
  });
}
