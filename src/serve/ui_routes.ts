/**
 * The playground page at `/` (a redirect to `/ui/`), served from the browser build's folder
 * (`dist/web/`, made by `deno task build:web`) with the headers a page needs for WASM threads:
 * `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`.
 *
 * @module
 */
import type { Hono } from "hono";
import { serveStatic } from "hono/deno";
import { join } from "pathe";
import { PrefixEdgeError } from "../errors/mod.ts";

/** Where the UI lives under the server. */
export const UI_PATH = "/ui/";

/**
 * Register the playground's routes.
 *
 * @param app the Hono app
 * @param dir the browser build's folder (its `index.html` is the page)
 * @returns whether the page is there to serve (without it, `/` says how to build it)
 */
export function addUiRoutes(app: Hono, dir: string): boolean {
  const built = isFile(join(dir, "index.html"));
  app.get("/", (c) => {
    if (!built) {
      throw new PrefixEdgeError(
        "ROUTE_NOT_FOUND",
        `Cannot show the playground: ${dir} has no index.html; build it with: deno task build:web`,
      );
    }
    return c.redirect(UI_PATH);
  });
  app.use(`${UI_PATH}*`, async (c, next) => {
    await next();
    // Cross-origin isolation: SharedArrayBuffer, and so onnxruntime-web's threads.
    c.res.headers.set("cross-origin-opener-policy", "same-origin");
    c.res.headers.set("cross-origin-embedder-policy", "require-corp");
    c.res.headers.set("cross-origin-resource-policy", "same-origin");
  });
  app.get(
    `${UI_PATH}*`,
    serveStatic({
      root: dir,
      rewriteRequestPath: (path) => path.slice(UI_PATH.length - 1),
    }),
  );
  return built;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
