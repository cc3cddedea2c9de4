/**
 * The browser test harness: a static server for `dist/web/` (the browser build, made by
 * `deno task build:web`), the oracle fixtures, `models/` and the test page, with the
 * cross-origin isolation headers WASM threads need; and headless Chromium, driven by
 * puppeteer-core, with WebGPU on SwiftShader.
 *
 * {@link webTest} registers one Deno test per file: it starts the server and the browser once,
 * opens the test page, hands it to the test's steps, and closes everything at the end. Without
 * Chromium the test is ignored with a loud warning, except in CI (`CI=true`), where it fails.
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { extname, join, normalize } from "node:path";
import { ROOT } from "../_fixtures.ts";
import { buildWeb } from "../../src/web/build.ts";

/** The browser build's module as the page sees it (typed from its source). */
export type WebSdk = typeof import("../../src/web/mod.ts");

/** The browser build. */
export const DIST = join(ROOT, "dist/web");

/** What the server serves, by URL prefix (each a repository folder of the same name). */
const SERVED = ["/dist/web/", "/tests/fixtures/", "/tests/web/page/", "/models/"];

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".wgsl": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** Chromium's flags for headless WebGPU on SwiftShader (no GPU needed). */
export const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--enable-unsafe-swiftshader",
];

/**
 * The Chromium to drive: `CHROMIUM_PATH`, else `chromium`, `chromium-browser` or
 * `google-chrome` on the PATH.
 */
export function findChromium(): string | null {
  const explicit = Deno.env.get("CHROMIUM_PATH");
  if (explicit) return statOrNull(explicit)?.isFile ? explicit : null;
  const dirs = (Deno.env.get("PATH") ?? "/usr/bin").split(":").filter(Boolean);
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    for (const dir of dirs) {
      const p = join(dir, name);
      if (statOrNull(p)?.isFile) return p;
    }
  }
  return null;
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}

/** The newest modification time under a folder (files ending in one of `exts`). */
function newest(dir: string, exts: string[]): number {
  let t = 0;
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) t = Math.max(t, newest(p, exts));
    else if (exts.some((x) => e.name.endsWith(x))) {
      t = Math.max(t, statOrNull(p)?.mtime?.getTime() ?? 0);
    }
  }
  return t;
}

/**
 * Why the browser build must be made again before a test (missing, or older than the sources
 * it is built from), or null.
 */
export function distStale(): string | null {
  const mod = statOrNull(join(DIST, "mod.js"));
  if (!mod?.mtime) return `${DIST}/mod.js does not exist`;
  const src = Math.max(
    newest(join(ROOT, "src"), [".ts"]),
    newest(join(ROOT, "kernels"), [".wgsl"]),
  );
  if (src > mod.mtime.getTime()) return `${DIST}/mod.js is older than the sources`;
  return null;
}

/** Build dist/web when it is missing or stale (`deno task build:web` does the same). */
async function ensureDist(): Promise<void> {
  const why = distStale();
  if (!why) return;
  console.log(`${why}: building it (deno task build:web)`);
  await buildWeb(new URL("dist/web/", `file://${ROOT}`), () => {});
}

/** Serve the repository's test folders on 127.0.0.1 (a random port). */
export function serveStatic(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    const headers = {
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-embedder-policy": "require-corp",
      "cache-control": "no-store",
    };
    let file = normalize(join(ROOT, path));
    if (file.endsWith("/")) file = join(file, "index.html");
    if (!file.startsWith(ROOT) || !SERVED.some((p) => path.startsWith(p))) {
      return new Response("not served", { status: 404, headers });
    }
    try {
      const body = await Deno.readFile(file);
      const type = TYPES[extname(file)] ?? "application/octet-stream";
      return new Response(body, { headers: { ...headers, "content-type": type } });
    } catch {
      return new Response("not found", { status: 404, headers });
    }
  });
}

/** What a browser test gets. */
export interface WebContext {
  /** The test page, with the browser build imported as `globalThis.sdk`. */
  page: Page;
  /** The server's origin, e.g. `http://127.0.0.1:41234`. */
  origin: string;
  /** URLs the page requested since the last call (then cleared). */
  takeRequests(): string[];
  /** Lines the page logged to its console, and its uncaught errors. */
  console: string[];
}

/**
 * Register one Deno test that runs `fn` against the test page in headless Chromium.
 *
 * @param name the test's name
 * @param fn the test, given its step context and the page
 */
export function webTest(
  name: string,
  fn: (t: Deno.TestContext, web: WebContext) => Promise<void>,
): void {
  const chromium = findChromium();
  const ci = Deno.env.get("CI") === "true";
  if (!chromium && !ci) {
    console.warn(
      `%cWARNING: ${name}: no Chromium, the browser tests are SKIPPED (apt-get install chromium, or set CHROMIUM_PATH)`,
      "color: red; font-weight: bold",
    );
  }
  Deno.test({
    name,
    ignore: !chromium && !ci,
    async fn(t) {
      if (!chromium) {
        throw new Error("no Chromium for the browser tests: apt-get install chromium");
      }
      await ensureDist();
      const server = serveStatic();
      let browser: Browser | null = null;
      try {
        browser = await puppeteer.launch({
          executablePath: chromium,
          args: CHROMIUM_ARGS,
          protocolTimeout: 600_000,
        });
        const page = await browser.newPage();
        page.setDefaultTimeout(600_000);
        const consoleLines: string[] = [];
        const requests: string[] = [];
        page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
        page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e}`));
        page.on("request", (r) => requests.push(r.url()));
        const origin = `http://127.0.0.1:${server.addr.port}`;
        await page.goto(`${origin}/tests/web/page/`);
        await page.waitForFunction("globalThis.sdkReady !== undefined");
        const ready = await page.evaluate("globalThis.sdkReady");
        if (ready !== true) {
          throw new Error(
            `the test page could not import the SDK: ${ready}\n${consoleLines.join("\n")}`,
          );
        }
        await fn(t, {
          page,
          origin,
          takeRequests: () => requests.splice(0),
          console: consoleLines,
        });
      } finally {
        await browser?.close();
        await server.shutdown();
      }
    },
  });
}
