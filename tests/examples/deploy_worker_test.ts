/**
 * examples/deploy_worker.ts, run as Deno Deploy runs it (WASM, no disk), on an S3 bucket (a real
 * S3 server in-process, SigV4 checked): an upload with ADMIN_TOKEN writes through to the bucket,
 * and the worker serves the task from it.
 */
import { assert, assertEquals } from "../_assert.ts";
import { FIXTURES, ROOT } from "../_fixtures.ts";
import { S3BundleStore } from "../../src/serve/mod.ts";
import { InferenceEngine } from "../../src/infer/mod.ts";
import { loadModel } from "../../src/model/mod.ts";
import { PrefixBundle } from "../../src/bundle/mod.ts";
import { S3_KEY, withS3Server } from "../serve/_s3_server.ts";
import { withListening } from "../serve/_serve_cli.ts";

const TOKEN = "deploy-worker-token-0123456789";
const PROMPT = "name: Max | animal: dog | place: park | thing: ball ||";

Deno.test({
  name: "the Deploy worker serves and takes uploads through an S3 bucket",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withS3Server(async (s3) => {
      const env = {
        BUNDLES: "s3://bundles/deploy",
        AWS_ACCESS_KEY_ID: S3_KEY.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3_KEY.secretAccessKey,
        AWS_ENDPOINT_URL: s3.endpoint,
        AWS_REGION: "us-east-1",
        ADMIN_TOKEN: TOKEN,
        HOST: "127.0.0.1",
        PORT: "0",
      };
      await withListening(
        Deno.execPath(),
        ["run", "-A", `${ROOT}examples/deploy_worker.ts`],
        { cwd: ROOT, env },
        async (url) => {
          const bundle = await Deno.readFile(`${FIXTURES}bundles/pet-stories-0.1.0.prefix.zip`);
          const put = await fetch(`${url}/v1/tasks/pet-stories`, {
            method: "PUT",
            headers: { authorization: `Bearer ${TOKEN}` },
            body: bundle,
          });
          assertEquals(put.status, 201, await put.text());
          const bucket = new S3BundleStore({
            bucket: "bundles",
            prefix: "deploy",
            accessKeyId: S3_KEY.accessKeyId,
            secretAccessKey: S3_KEY.secretAccessKey,
            endpoint: s3.endpoint,
          });
          assertEquals(await bucket.list(), ["pet-stories"]);
          assertEquals(await bucket.read("pet-stories"), bundle);

          const res = await fetch(`${url}/v1/tasks/pet-stories/generate`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ prompt: PROMPT, max_tokens: 24 }),
          });
          const body = await res.json();
          assertEquals(res.status, 200, JSON.stringify(body));
          // The worker ran the bundle from the bucket: its greedy text is this process's.
          const model = await loadModel(`${ROOT}models/stories260K`);
          const prefix = (await PrefixBundle.fromBytes(bundle, { model })).prefix;
          const engine = await InferenceEngine.create(model, { executionProvider: "wasm" });
          try {
            const local = await engine.generate({ prompt: PROMPT, prefix, maxNewTokens: 24 })
              .result;
            const base = await engine.generate({ prompt: PROMPT, maxNewTokens: 24 }).result;
            assertEquals(body.text, local.text);
            assert(local.text !== base.text, "the prefix changes nothing: the test cannot tell");
          } finally {
            await engine.dispose();
          }
        },
      );
    });
  },
});
