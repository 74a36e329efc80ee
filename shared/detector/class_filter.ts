/**
 * Per-class score thresholds, resolved once into an array indexed by class id, so the decoders'
 * hot loops do one array read per candidate. A class outside the allow-list gets +Infinity.
 *
 * @module
 */

/** Options of {@link createClassFilter}. */
export interface ClassFilterOptions {
  /** Class names in label order. */
  readonly classes: readonly string[];
  /** Default minimum score. */
  readonly scoreThreshold: number;
  /** Per-class overrides by class name. */
  readonly classThresholds?: Readonly<Record<string, number>>;
  /** Only these class names are reported (empty or absent: all). */
  readonly classAllowList?: readonly string[];
}

/** Resolved thresholds. */
export interface ClassFilter {
  /** Class names in label order. */
  readonly classes: readonly string[];
  /** Minimum score per class id (+Infinity: never reported). */
  readonly thresholds: Float64Array;
  /** The lowest finite threshold (used to prune before per-class checks). */
  readonly minThreshold: number;
  /** Label of a class id (`class_<id>` when the manifest has fewer names). */
  label(classId: number): string;
  /** Threshold of a class id (+Infinity for ids beyond the class list). */
  threshold(classId: number): number;
}

/** Builds a {@link ClassFilter}; unknown class names are an error naming the known ones. */
export function createClassFilter(options: ClassFilterOptions): ClassFilter {
  const { classes } = options;
  const unknown = [
    ...Object.keys(options.classThresholds ?? {}),
    ...(options.classAllowList ?? []),
  ].filter((name) => !classes.includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown class name(s) ${unknown.join(", ")}; the model knows: ${
        classes.slice(0, 80).join(", ")
      }`,
    );
  }
  const allow = options.classAllowList && options.classAllowList.length > 0
    ? new Set(options.classAllowList)
    : null;
  const thresholds = new Float64Array(classes.length);
  let minThreshold = Infinity;
  classes.forEach((name, i) => {
    const t = allow && !allow.has(name)
      ? Infinity
      : options.classThresholds?.[name] ?? options.scoreThreshold;
    thresholds[i] = t;
    if (t < minThreshold) minThreshold = t;
  });
  return {
    classes,
    thresholds,
    minThreshold,
    label: (id) => classes[id] ?? `class_${id}`,
    threshold: (id) => (id >= 0 && id < thresholds.length ? thresholds[id]! : Infinity),
  };
}
