/**
 * Numeric query parameters for route schemas: strict decimals (ASCII digits, for the decimal
 * form an optional minus and fraction), never what `Number()` also accepts (`0x10`, `1e3`,
 * `+5`, blanks). An empty value means absent. Each is documented in the OpenAPI document with
 * the bounds it enforces, and a bad value is a 400 naming the parameter and the value.
 *
 * @module
 */
import { z } from "@hono/zod-openapi";

/** A query parameter schema: the text as sent (or absent) in, the parsed value out. */
export type QueryParam<T> = z.ZodType<T | undefined, string | undefined>;

const quoted = (raw: string) => JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}…` : raw);

/**
 * A query parameter holding a decimal integer in `min..max`: ASCII digits only (no sign,
 * spaces, `0x`, exponent or fraction, which `Number()` would accept); empty means absent.
 * Documented as an integer with its bounds; a bad value is a 400 naming the parameter and value.
 */
export function integerQuery(options: {
  readonly min: number;
  /** Default `Number.MAX_SAFE_INTEGER`. */
  readonly max?: number;
  readonly description: string;
  /** The value used when absent (documentation only). */
  readonly default?: number;
}): QueryParam<number> {
  const { min, max = Number.MAX_SAFE_INTEGER } = options;
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw === "") return undefined;
    const n = /^[0-9]+$/.test(raw) ? Number(raw) : NaN;
    if (n >= min && n <= max) return n;
    ctx.addIssue({
      code: "custom",
      message: `expected a decimal integer in ${min}..${max}, got ${quoted(raw)}`,
    });
    return z.NEVER;
  }).openapi({
    type: "integer",
    minimum: min,
    maximum: max,
    ...(options.default === undefined ? {} : { default: options.default }),
    description: options.description,
  });
}

/**
 * A query parameter holding a plain decimal number in `min..max` (`-0.5`, `1`, `0.45`: an
 * optional minus, digits, an optional fraction); empty means absent. Documented as a number with
 * its bounds; a bad value is a 400 naming the parameter and value.
 */
export function decimalQuery(options: {
  readonly min: number;
  readonly max: number;
  readonly description: string;
}): QueryParam<number> {
  const { min, max } = options;
  return z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw === "") return undefined;
    const n = /^-?[0-9]+(?:\.[0-9]+)?$/.test(raw) ? Number(raw) : NaN;
    if (n >= min && n <= max) return n;
    ctx.addIssue({
      code: "custom",
      message: `expected a decimal number in ${min}..${max} (such as 0.5), got ${quoted(raw)}`,
    });
    return z.NEVER;
  }).openapi({ type: "number", minimum: min, maximum: max, description: options.description });
}
