/** The connection cap fits the open-file limit read from /proc/self/limits. */
import assert from "node:assert/strict";
import {
  connectionsWithin,
  FDS_PER_CONNECTION,
  openFileLimit,
  RESERVED_FDS,
} from "../shared/server/fd_limit.ts";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             63704                63704                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

Deno.test("the soft open-file limit is read; unlimited or unreadable means none", () => {
  assert.equal(openFileLimit(() => LIMITS), 1024);
  assert.equal(openFileLimit(() => LIMITS.replace("1024 ", "unlimited ")), null);
  assert.equal(
    openFileLimit(() => {
      throw new Deno.errors.NotFound("no /proc here");
    }),
    null,
  );
  // This machine's own file parses to a positive number.
  const own = openFileLimit();
  assert.ok(own === null || own > 0);
});

Deno.test("connections within a limit leave the reserve and take three descriptors each", () => {
  assert.equal(FDS_PER_CONNECTION, 3);
  assert.equal(connectionsWithin(1024), Math.floor((1024 - RESERVED_FDS) / 3));
  assert.equal(connectionsWithin(1024), 298);
  assert.equal(connectionsWithin(10), 1, "never below one");
  assert.equal(connectionsWithin(null), Infinity);
});
