/**
 * `GET /openapi.json` (the OpenAPI 3.1 document of every route, generated from the same zod
 * schemas that validate requests) and `GET /docs` (Swagger UI served from the `swagger-ui-dist`
 * package on disk: no CDN, works offline). Both are open.
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { join } from "node:path";
import getAbsoluteFSPath from "swagger-ui-dist/absolute-path.js";
import { NotFoundError } from "../shared/errors.ts";
import { createRoutes, errorResponses, type FessEnv } from "./openapi.ts";

/** Dependencies of {@link createDocsHandler}. */
export interface DocsHandlerDeps {
  /** Builds the OpenAPI document (called once, on the first request, after every mount). */
  readonly document: () => object;
}

const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>FESS API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
SwaggerUIBundle({ url: "/openapi.json", dom_id: "#ui", deepLinking: true });
</script>
</body>
</html>
`;

const openapiRoute = createRoute({
  method: "get",
  path: "/openapi.json",
  summary: "The OpenAPI 3.1 document of this API",
  tags: ["docs"],
  responses: {
    200: {
      description: "OpenAPI 3.1 document",
      content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
    },
    ...errorResponses([]),
  },
});

const docsRoute = createRoute({
  method: "get",
  path: "/docs",
  summary: "Interactive API documentation (Swagger UI, served locally)",
  tags: ["docs"],
  responses: {
    200: { description: "HTML page", content: { "text/html": { schema: z.string() } } },
    ...errorResponses([]),
  },
});

/** Creates the documentation routes. */
export function createDocsHandler(deps: DocsHandlerDeps): OpenAPIHono<FessEnv> {
  let document: Record<string, unknown> | undefined;
  const assets = new Map<string, Uint8Array>();
  const routes = createRoutes();
  routes
    .openapi(openapiRoute, (c) => {
      document ??= deps.document() as Record<string, unknown>;
      return c.json(document, 200);
    })
    .openapi(docsRoute, (c) => c.html(PAGE, 200))
    .get("/docs/:asset", async (c) => {
      const name = c.req.param("asset");
      const type = ASSETS[name];
      if (!type) throw new NotFoundError(`no documentation asset ${name}`);
      let bytes = assets.get(name);
      if (!bytes) {
        bytes = await Deno.readFile(join(getAbsoluteFSPath(), name));
        assets.set(name, bytes);
      }
      return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
        "content-type": type,
        "cache-control": "public, max-age=86400",
      });
    });
  return routes;
}
