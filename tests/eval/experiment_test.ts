/**
 * The experiment runner end to end on a tiny fixture model (gpt2-text, real
 * WebGPU training, WASM evaluation): a 2 methods x 2 lengths x 1 seed grid of
 * a few steps writes the table, the plots and the report; stopped after its
 * first run, it continues without redoing that run; a run that trained but
 * was not evaluated, or whose summary is gone, is finished from its files.
 */
import { join } from "node:path";
import { runExperiment } from "../../src/study/mod.ts";
import type { ExperimentOptions, GridCell } from "../../src/study/mod.ts";
import type { PrefixEdgeError } from "../../src/errors/mod.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
import { E2E_SMALL, GPT2_TOK } from "../_fixtures.ts";
import { runCliScript } from "./_run_cli.ts";
import { checkWellFormedXml } from "./_xml_check.ts";

/** The first `n` data rows of a CSV, with its header. */
async function headCsv(src: string, dst: string, n: number): Promise<void> {
  const lines = (await Deno.readTextFile(src)).split("\n");
  await Deno.writeTextFile(dst, lines.slice(0, n + 1).join("\n") + "\n");
}

Deno.test({
  name: "runExperiment() writes table, plots and report, and resumes a stopped grid",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "experiment_test_" });
    try {
      await headCsv(`${E2E_SMALL}/train.csv`, join(dir, "train.csv"), 8);
      await headCsv(`${E2E_SMALL}/dev.csv`, join(dir, "dev.csv"), 4);
      const outDir = join(dir, "study");
      const options: ExperimentOptions = {
        model: GPT2_TOK,
        train: join(dir, "train.csv"),
        dev: join(dir, "dev.csv"),
        methods: ["none", "residual+gate"],
        prefixLens: [1, 3],
        seeds: [7],
        training: { steps: 3, batchSize: 4, lr: 5e-3, midDim: 16, maxLen: 120, evalEvery: 1 },
        evaluation: { numBeams: 1, maxNewTokens: 4, limit: 2 },
        executionProvider: "wasm",
        outDir,
        command: "deno task experiment (test)",
      };
      const events: string[] = [];
      const log = (e: { cell: GridCell; kind: string }) => events.push(`${e.kind} ${e.cell.id}`);

      // 1. Stop after the first run is evaluated.
      const stop = new AbortController();
      await assertRejects(
        () =>
          runExperiment(options, {
            progress: false,
            signal: stop.signal,
            onCell: (e) => {
              log(e);
              if (e.kind === "evaluated") stop.abort();
            },
          }),
        (e) => assertEquals((e as PrefixEdgeError).code, "CANCELLED"),
      );
      assertEquals(events, ["trained none-p1-s7", "evaluated none-p1-s7"]);
      assert((await Deno.readTextFile(join(outDir, "report.md"))).includes("1 of 4 runs done"));

      // 2. Pretend the last run was cut short twice over: trained, but cell.json and
      //    summary.json lost. It must resume from its checkpoint, not start again.
      events.length = 0;
      const r = await runExperiment(options, { progress: false, onCell: log });
      assertEquals(events, [
        "reused none-p1-s7",
        "trained none-p3-s7",
        "evaluated none-p3-s7",
        "trained residual-gate-p1-s7",
        "evaluated residual-gate-p1-s7",
        "trained residual-gate-p3-s7",
        "evaluated residual-gate-p3-s7",
      ]);
      assertEquals(Object.keys(r.results).length, 4);
      const last = join(outDir, "runs", "residual-gate-p3-s7");
      await Deno.remove(join(last, "cell.json"));
      await Deno.remove(join(last, "summary.json"));
      // And one run trained but not evaluated: its bundle is evaluated, nothing trains.
      await Deno.remove(join(outDir, "runs", "none-p3-s7", "cell.json"));
      events.length = 0;
      const again = await runExperiment(options, { progress: false, onCell: log });
      assertEquals(events, [
        "reused none-p1-s7",
        "evaluated none-p3-s7",
        "reused residual-gate-p1-s7",
        "resumed residual-gate-p3-s7",
        "evaluated residual-gate-p3-s7",
      ]);
      assertEquals(again.results["none-p3-s7"].steps, 3);
      // Nothing retrained: the resumed run ends with the same dev loss.
      assertEquals(
        again.results["residual-gate-p3-s7"].devLoss,
        r.results["residual-gate-p3-s7"].devLoss,
      );

      // The table: one row per method plus the baseline, one column per length, every cell filled.
      const table = await Deno.readTextFile(join(outDir, "results.md"));
      for (const row of ["| none |", "| residual+gate |", "| base model (no prefix) |"]) {
        assert(table.includes(row), `results.md lacks ${row}`);
      }
      assert(table.includes("| method | P=1 | P=3 |"));
      assert(!/\| none \|[^\n]*–/.test(table), "a finished run shows as missing");
      const csv = (await Deno.readTextFile(join(outDir, "results.csv"))).trim().split("\n");
      assertEquals(csv[0], "method,prefix_len,metric,mean,std,n");
      for (const m of ["none", "residual+gate"]) {
        for (const p of [1, 3]) {
          assert(csv.some((l) => l.startsWith(`${m},${p},bleu,`)), `csv lacks ${m} P=${p} bleu`);
          assert(csv.some((l) => l.startsWith(`${m},${p},devLoss,`)));
        }
      }

      // The plots: valid SVG with the expected series.
      const legend = (svg: string) =>
        checkWellFormedXml(svg).filter((e) => e.name === "path").length;
      const plot = (name: string) => Deno.readTextFile(join(outDir, "plots", name));
      const metric = await plot("metric_vs_prefix_len.svg");
      assertEquals(legend(metric), 3); // two methods and the base-model line
      for (const name of ["none", "residual+gate", "base model"]) {
        assert(metric.includes(`<title>${name}</title>`), `metric plot lacks ${name}`);
      }
      for (const p of [1, 3]) {
        const dev = await plot(`dev_loss_p${p}.svg`);
        assertEquals(legend(dev), 2);
        const gates = await plot(`gates_residual-gate_p${p}.svg`);
        assertEquals(legend(gates), p, "one gate line per prefix token");
      }
      assertEquals(legend(await plot("steps_to_target.svg")), 2);
      assertEquals(r.files.plots.length, 6);

      const report = await Deno.readTextFile(join(outDir, "report.md"));
      assert(report.includes("4 of 4 runs done"));
      assert(report.includes("deno task experiment (test)"));
      for (const p of r.files.plots) {
        assert(report.includes(`(plots/${p.split("/").pop()})`), `report lacks ${p}`);
      }

      // Other settings in the same folder are refused.
      await assertRejects(
        () =>
          runExperiment({ ...options, training: { ...options.training, steps: 4 } }, {
            progress: false,
          }),
        (e) => assertEquals((e as PrefixEdgeError).code, "CHECKPOINT_MISMATCH"),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const experimentCli = (...args: string[]) => runCliScript("experiment.ts", ...args);

Deno.test("experiment --help lists the grid options; bad grids are refused in one line", async () => {
  const help = await experimentCli("--help");
  assertEquals(help.code, 0);
  for (const flag of ["--methods", "--prefix-lens", "--seeds", "--train", "--dev", "--out"]) {
    assert(help.stdout.includes(flag), flag);
  }
  for (
    const [args, text] of [
      [["--train", "t.csv", "--out", "o", "--methods", "lora"], "lora"],
      [["--train", "t.csv", "--out", "o", "--prefix-lens", "1,x"], "not an integer"],
      [["--out", "o"], "--train"],
    ] as const
  ) {
    const r = await experimentCli(...args);
    assertEquals(r.code, 1, r.stderr);
    assert(r.stderr.startsWith("error [INVALID_INPUT]") && r.stderr.includes(text), r.stderr);
  }
});

Deno.test({
  name:
    "a grid judged by its dev metric stops each cell at the target and runs each method at its own rate",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "experiment_target_" });
    try {
      await headCsv(`${E2E_SMALL}/train.csv`, join(dir, "train.csv"), 8);
      await headCsv(`${E2E_SMALL}/dev.csv`, join(dir, "dev.csv"), 4);
      const outDir = join(dir, "study");
      const r = await runExperiment({
        model: GPT2_TOK,
        train: join(dir, "train.csv"),
        dev: join(dir, "dev.csv"),
        methods: ["none", "residual+gate"],
        prefixLens: [2],
        seeds: [7],
        training: { steps: 6, batchSize: 4, lr: 5e-3, midDim: 16, maxLen: 120, evalEvery: 2 },
        evaluation: { numBeams: 1, maxNewTokens: 4, limit: 2 },
        // Any BLEU reaches 0: each cell stops at its first evaluation after step 0.
        targetMetric: 0,
        lrByMethod: { none: 3e-2 },
        executionProvider: "wasm",
        outDir,
      }, { progress: false });
      for (const id of ["none-p2-s7", "residual-gate-p2-s7"]) {
        const cell = r.results[id];
        assertEquals(cell.reachedTarget, true, id);
        assertEquals(
          cell.steps,
          2,
          `${id} stopped at the first evaluation that reached the target`,
        );
        assert((cell.metricCurve ?? []).length >= 2, `${id}: the metric at step 0 and after`);
      }
      const none = JSON.parse(
        await Deno.readTextFile(join(outDir, "runs/none-p2-s7/summary.json")),
      );
      const gated = JSON.parse(
        await Deno.readTextFile(join(outDir, "runs/residual-gate-p2-s7/summary.json")),
      );
      assertEquals([none.options.lr, gated.options.lr], [3e-2, 5e-3]);
      const results = await Deno.readTextFile(join(outDir, "results.md"));
      assert(results.includes("optimizer steps until the dev bleu first reached 0"), results);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
