/**
 * `deno task bundle push|pull|ls` against the stores replicas serve from: a folder and an
 * S3-compatible bucket (a real S3 server in-process, SigV4 checked). What is pushed is verified
 * first, what is pulled is verified before it is written, and a missing task or a corrupt file is a
 * one-line typed refusal.
 */
import { assert, assertEquals } from "../_assert.ts";
import { FIXTURES, ROOT } from "../_fixtures.ts";
import { main } from "../../src/cli/bundle.ts";
import { S3_KEY, withS3Server } from "../serve/_s3_server.ts";

const BUNDLE = `${FIXTURES}bundles/pet-stories-0.1.0.prefix.zip`;
const MODEL = `${ROOT}models/stories260K`;

async function run(...args: string[]) {
  const out: string[] = [], err: string[] = [];
  const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** Run `fn` with the AWS_* variables of the test server set, then put them back. */
async function withAwsEnv(env: Record<string, string>, fn: () => Promise<void>) {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
  try {
    await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) Deno.env.delete(k);
      else Deno.env.set(k, v);
    }
  }
}

Deno.test({
  name: "bundle push, ls and pull go through an S3 bucket, verified both ways",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withS3Server(async (s3) => {
      await withAwsEnv({
        AWS_ACCESS_KEY_ID: S3_KEY.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3_KEY.secretAccessKey,
        AWS_ENDPOINT_URL: s3.endpoint,
        AWS_REGION: "us-east-1",
      }, async () => {
        const store = "s3://bundles/fleet";
        const pushed = await run("push", BUNDLE, "--store", store, "--model", MODEL);
        assertEquals(pushed.code, 0, pushed.err);
        assert(pushed.out.includes("task 'pet-stories'"), pushed.out);
        const renamed = await run("push", BUNDLE, "--store", store, "--task", "pets-2");
        assertEquals(renamed.code, 0, renamed.err);
        assertEquals((await run("ls", store)).out.split("\n"), ["pet-stories", "pets-2"]);

        const dir = await Deno.makeTempDir();
        try {
          const out = `${dir}/pulled.prefix.zip`;
          const pulled = await run(
            "pull",
            "pet-stories",
            "--store",
            store,
            "--out",
            out,
            "--model",
            MODEL,
          );
          assertEquals(pulled.code, 0, pulled.err);
          assertEquals(await Deno.readFile(out), await Deno.readFile(BUNDLE));

          const missing = await run("pull", "nobody", "--store", store, "--out", `${dir}/x.zip`);
          assertEquals(missing.code, 1);
          assert(missing.err.startsWith("error [UNKNOWN_TASK]: Cannot pull 'nobody'"), missing.err);

          // A corrupt file is refused before anything reaches the bucket.
          const bad = `${dir}/bad.prefix.zip`;
          await Deno.writeFile(bad, (await Deno.readFile(BUNDLE)).slice(0, 500));
          const refused = await run("push", bad, "--store", store, "--task", "broken");
          assertEquals(refused.code, 1, refused.out);
          assertEquals((await run("ls", store)).out.split("\n"), ["pet-stories", "pets-2"]);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
        assert(s3.seen.every((r) => r.auth === "header"), "every request was signed");
      });
    });
  },
});

Deno.test("bundle push and ls work on a folder store; ls refuses an http store", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pushed = await run("push", BUNDLE, "--store", dir);
    assertEquals(pushed.code, 0, pushed.err);
    assert((await Deno.stat(`${dir}/pet-stories.prefix.zip`)).isFile);
    assertEquals((await run("ls", dir)).out, "pet-stories");
    const http = await run("ls", "https://cdn.example.com/bundles");
    assertEquals(http.code, 1);
    assert(http.err.includes("cannot list"), http.err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
