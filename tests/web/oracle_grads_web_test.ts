/**
 * The browser build computes the PyTorch oracle's loss and prefix gradients in headless
 * Chromium (Tint compiling our WGSL, SwiftShader running it): all five oracle fixtures x six
 * prefix methods, on WebGPU with the software kernel set, the hardware set, and the hardware
 * set with subgroup reductions (Chromium offers `subgroups`), to relative L2 1e-3; the model and
 * the cases are fetched by URL.
 *
 * `WEB_TEST_ONLY=gpt2-tiny,llama-tiny` and `WEB_TEST_CONFIG="hardware kernels"` narrow a run
 * while working on one family or kernel set.
 */
import { assert } from "../_assert.ts";
import { FIXTURES, type OracleCases } from "../_fixtures.ts";
import { webTest } from "./_browser.ts";
import { assertMatchesOracle, ORACLE_FAMILIES, pageOracleGrads } from "./_oracle_page.ts";

const CONFIGS = [
  { label: "software kernels", kernels: "software", subgroups: false },
  { label: "hardware kernels", kernels: "hardware", subgroups: false },
  { label: "hardware kernels with subgroups", kernels: "hardware", subgroups: true },
] as const;

/** The kernels whose subgroup variants lossAndGrads runs (adamw_update only runs in a step). */
const SUBGROUP_FILES = [
  "layernorm_forward",
  "layernorm_backward",
  "rmsnorm_forward",
  "rmsnorm_backward",
  "prefix_backward",
].map((k) => `${k}_subgroups.wgsl`);

const ONLY = Deno.env.get("WEB_TEST_ONLY")?.split(",");
const ONLY_CONFIG = Deno.env.get("WEB_TEST_CONFIG");

webTest(
  "in Chromium, lossAndGrads on WebGPU matches the oracle's loss and gradients",
  async (t, web) => {
    for (const cfg of CONFIGS.filter((c) => !ONLY_CONFIG || c.label === ONLY_CONFIG)) {
      web.takeRequests();
      for (const fixture of ORACLE_FAMILIES.filter((f) => !ONLY || ONLY.includes(f))) {
        const oracle: OracleCases = JSON.parse(
          await Deno.readTextFile(`${FIXTURES}${fixture}/cases.json`),
        );
        await t.step({
          name: `${fixture}, ${cfg.label}`,
          sanitizeOps: false,
          sanitizeResources: false,
          async fn(t) {
            const got = await web.page.evaluate(pageOracleGrads, {
              fixture,
              backend: "webgpu" as const,
              kernels: cfg.kernels,
              subgroups: cfg.subgroups,
            });
            for (const c of oracle.cases) {
              await t.step({
                name: c.name,
                sanitizeOps: false,
                sanitizeResources: false,
                async fn() {
                  const g = got.find((x) => x.name === c.name)!;
                  assert(
                    g.kernelSet === cfg.kernels,
                    `ran ${g.kernelSet}, asked for ${cfg.kernels}`,
                  );
                  await assertMatchesOracle(fixture, c, g, cfg.label);
                },
              });
            }
          },
        });
      }
      // The subgroup variants really ran (and only when asked for): the page fetched them.
      const fetched = web.takeRequests().filter((u) => u.endsWith("_subgroups.wgsl"))
        .map((u) => u.split("/").pop()!);
      if (!cfg.subgroups) {
        assert(fetched.length === 0, `subgroup kernels loaded with subgroups off: ${fetched}`);
      } else if (!ONLY) {
        const missing = SUBGROUP_FILES.filter((f) => !fetched.includes(f));
        assert(missing.length === 0, `subgroup kernels never loaded: ${missing.join(", ")}`);
      }
    }
  },
);
