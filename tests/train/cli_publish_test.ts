/**
 * `deno task train --publish`: the bundle of a run that ends well lands in a folder store, an
 * S3 bucket (a real S3 server in-process, SigV4 checked) or a running server; a wrong key,
 * bucket or token fails before anything is trained.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_assert.ts";
import { GPT2_TOK, ROOT, STORIES } from "../_fixtures.ts";
import { S3_KEY, withS3Server } from "../serve/_s3_server.ts";
import { openServer, S3BundleStore } from "../../src/serve/mod.ts";

const CLI = join(ROOT, "src/cli/train.ts");

async function train(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A one-step run on a tiny model: quick, and it ends well (nothing held out to judge it by). */
async function quickRun(dir: string, model = GPT2_TOK): Promise<string[]> {
  const data = join(dir, "greet.jsonl");
  await Deno.writeTextFile(data, '{"input":"name : A","output":"A pub."}\n');
  return [
    "--model",
    model,
    "--data",
    data,
    "--steps",
    "1",
    "--batch",
    "1",
    "--max-len",
    "32",
    "--prefix-len",
    "2",
    "--samples",
    "0",
    "--out",
    join(dir, "run"),
  ];
}

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

Deno.test("train --publish writes the bundle into a folder store", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = join(dir, "store");
    await Deno.mkdir(store);
    const r = await train([...await quickRun(dir), "--publish", store]);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stderr.includes(`publish: to ${store} when the run ends well (checked)`), r.stderr);
    assert(r.stdout.includes(`published: wrote ${store}/greet.prefix.zip`), r.stdout);
    assertEquals(
      await Deno.readFile(join(store, "greet.prefix.zip")),
      await Deno.readFile(join(dir, "run/greet.prefix.zip")),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "train --publish uploads to an S3 bucket, and a wrong key or bucket fails before training",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withS3Server(async (s3) => {
      const env = {
        AWS_ACCESS_KEY_ID: S3_KEY.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3_KEY.secretAccessKey,
        AWS_ENDPOINT_URL: s3.endpoint,
        AWS_REGION: "us-east-1",
      };
      const dir = await Deno.makeTempDir();
      try {
        const args = await quickRun(dir);
        const r = await train([...args, "--publish", "s3://bundles/fleet"], env);
        assertEquals(r.code, 0, r.stderr);
        assert(r.stdout.includes("published: wrote s3://bundles/fleet/greet.prefix.zip"), r.stdout);
        const bucket = new S3BundleStore({
          bucket: "bundles",
          prefix: "fleet",
          accessKeyId: S3_KEY.accessKeyId,
          secretAccessKey: S3_KEY.secretAccessKey,
          endpoint: s3.endpoint,
        });
        assertEquals(await bucket.list(), ["greet"]);
        assertEquals(
          await bucket.read("greet"),
          await Deno.readFile(join(dir, "run/greet.prefix.zip")),
        );

        for (
          const [why, badEnv, spec, expect] of [
            [
              "a wrong key",
              { ...env, AWS_SECRET_ACCESS_KEY: "wrong" },
              "s3://bundles/x",
              "credentials",
            ],
            ["a missing bucket", env, "s3://no-such-bucket/x", "does not exist"],
          ] as const
        ) {
          const out = join(dir, `refused-${why.replaceAll(" ", "-")}`);
          const refused = await train(
            [...args.slice(0, -1), out, "--publish", spec],
            badEnv,
          );
          assertEquals(refused.code, 1, `${why}: ${refused.stdout}`);
          assert(refused.stderr.includes(expect), `${why}: ${refused.stderr}`);
          assert(!refused.stderr.includes("train: task"), `${why}: it trained: ${refused.stderr}`);
          assert(!(await exists(out)), `${why}: the run folder was made`);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});

/** The admin token of the test servers. */
const TOKEN = "publish-test-token-0123456789";

/**
 * A running server on stories260K with the admin token {@link TOKEN} and that token in a file
 * under `dir`, for `fn`; shut down after.
 */
async function withServer(
  dir: string,
  bundles: string,
  fn: (url: string, tokenFile: string) => Promise<void>,
): Promise<void> {
  const { app, engine } = await openServer({
    model: STORIES,
    bundles,
    ep: "wasm",
    adminToken: TOKEN,
    log: () => {},
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    const tokenFile = join(dir, "admin.token");
    await Deno.writeTextFile(tokenFile, TOKEN, { mode: 0o600 });
    await fn(`http://127.0.0.1:${server.addr.port}`, tokenFile);
  } finally {
    await server.shutdown();
    app.serve.scheduler.close();
    await engine.dispose();
  }
}

Deno.test({
  name: "train --publish uploads to a running server with its token, and a wrong token fails first",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.mkdir(join(dir, "served"));
      await withServer(dir, join(dir, "served"), async (url, tokenFile) => {
        const wrongFile = join(dir, "wrong.token");
        await Deno.writeTextFile(wrongFile, "not-the-token-0123456789", { mode: 0o600 });
        const args = await quickRun(dir, STORIES);

        const refused = await train([
          ...args.slice(0, -1),
          join(dir, "refused"),
          "--publish",
          url,
          "--publish-token-file",
          wrongFile,
        ]);
        assertEquals(refused.code, 1, refused.stdout);
        assert(refused.stderr.includes("UNAUTHORIZED"), refused.stderr);
        assert(!(await exists(join(dir, "refused"))), "the refused run made its folder");

        const noToken = await train([...args, "--publish", url]);
        assertEquals(noToken.code, 1, noToken.stdout);
        assert(noToken.stderr.includes("--publish-token-file"), noToken.stderr);

        const r = await train([...args, "--publish", url, "--publish-token-file", tokenFile]);
        assertEquals(r.code, 0, r.stderr);
        assert(r.stdout.includes(`published: added task 'greet' on ${url}`), r.stdout);
        const tasks = await (await fetch(`${url}/v1/tasks`)).json() as {
          data: { task: string }[];
        };
        assertEquals(tasks.data.map((t) => t.task), ["greet"]);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "train --publish that the server refuses after the run keeps the bundle and says how to publish it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // A server on a read-only store: it takes the token (the check passes) but refuses uploads.
      await withServer(dir, "http://127.0.0.1:9/bundles", async (url, tokenFile) => {
        const args = await quickRun(dir, STORIES);
        const r = await train([...args, "--publish", url, "--publish-token-file", tokenFile]);
        assertEquals(r.code, 1, r.stdout);
        const bundle = join(dir, "run/greet.prefix.zip");
        assert(r.stderr.includes("STORE_READ_ONLY"), r.stderr);
        assert(r.stderr.includes(`The bundle is kept at ${bundle}`), r.stderr);
        assert(await exists(bundle), "the bundle is gone");
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
