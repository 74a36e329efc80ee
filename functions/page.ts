/**
 * The live page: `GET /` (the page) and `GET /ui/{asset}` (its script and style sheet), all
 * files of `ui/` served by FESS itself — no CDN, no build step. The page holds no data: it
 * asks the API with the key the user types (kept in sessionStorage), so these routes are open.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { NotFoundError } from "../shared/errors.ts";
import { createRoutes, errorResponses, type FessEnv } from "./openapi.ts";

/** Dependencies of {@link createPageHandler}. */
export interface PageHandlerDeps {
  /** Folder of the page's files. Default: `ui/` of this repository. */
  readonly uiDir?: URL;
}

const ASSETS: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
};

// The page may only load what FESS serves; images are blob: URLs of authenticated fetches.
const CSP = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
  "style-src 'self'; script-src 'self'; frame-ancestors 'none'";

const pageRoute = createRoute({
  method: "get",
  path: "/",
  summary: "The live page: cameras, live events, face gallery and status",
  tags: ["page"],
  responses: {
    200: { description: "HTML page", content: { "text/html": { schema: z.string() } } },
    ...errorResponses([]),
  },
});

const assetRoute = createRoute({
  method: "get",
  path: "/ui/{asset}",
  summary: "The page's script and style sheet",
  tags: ["page"],
  request: {
    params: z.object({
      asset: z.string().openapi({ param: { name: "asset", in: "path" }, example: "app.js" }),
    }),
  },
  responses: {
    200: {
      description: "The asset",
      content: {
        "text/javascript": { schema: z.string() },
        "text/css": { schema: z.string() },
      },
    },
    ...errorResponses([404]),
  },
});

/** Creates the page routes. */
export function createPageHandler(deps: PageHandlerDeps = {}): OpenAPIHono<FessEnv> {
  const dir = deps.uiDir ?? new URL("../ui/", import.meta.url);
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  const read = async (name: string) => {
    let bytes = files.get(name);
    if (!bytes) {
      bytes = await Deno.readFile(new URL(name, dir));
      files.set(name, bytes);
    }
    return bytes;
  };
  const headers = (type: string) => ({
    "content-type": type,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "content-security-policy": CSP,
  });
  return createRoutes()
    .openapi(
      pageRoute,
      async (c) => c.body(await read("index.html"), 200, headers("text/html; charset=utf-8")),
    )
    .openapi(assetRoute, async (c) => {
      const name = c.req.valid("param").asset;
      const type = ASSETS[name];
      if (!type) throw new NotFoundError(`no page asset ${name}`);
      return c.body(await read(name), 200, headers(type));
    });
}
