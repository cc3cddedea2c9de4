/// <reference lib="dom" />
/**
 * The playground's main flow in headless Chromium, as static files (`dist/web/`, no server): train
 * the main job for a few steps in the tab on WASM, see the loss and gates drawn and the samples
 * before and after, generate with the tab's prefix, and download a bundle that
 * `deno task bundle inspect` accepts.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../_assert.ts";
import { ROOT } from "../_fixtures.ts";
import { webTest } from "./_browser.ts";
import { generateAnswer } from "./_playground.ts";

webTest("the playground trains the main job in a tab and downloads a bundle", async (_t, web) => {
  const { page } = web;
  const downloads = await Deno.makeTempDir({ prefix: "playground-" });
  try {
    const cdp = await page.createCDPSession();
    await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
    await page.goto(`${web.origin}/dist/web/index.html?evalLimit=4`);
    // Static files: the page says it has no server and runs everything in the tab.
    await page.waitForFunction(() =>
      document.getElementById("where")?.textContent?.includes("Static page")
    );

    await page.$eval("#steps", (el) => (el as HTMLInputElement).value = "3");
    await page.select("#backend", "wasm");
    await page.click("#start");
    await page.waitForFunction(
      () => ["done", "stopped", "failed"].includes(document.body.dataset.training ?? ""),
      { timeout: 600_000 },
    );
    const status = await page.$eval("#status", (el) => el.textContent ?? "");
    assertEquals(
      await page.evaluate(() => document.body.dataset.training),
      "done",
      `${status}\n${web.console.join("\n")}`,
    );
    assert(status.startsWith("Done after 3 steps on wasm"), status);
    assert(await page.$("#lossChart svg"), "the loss chart is drawn");
    assert(await page.$("#gatesChart svg"), "the gates chart is drawn");
    const rows = await page.$$eval(
      "#samples tbody tr",
      (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")),
    );
    assertEquals(rows.length, 3);
    for (const [record, before, after] of rows) {
      assert(record.includes("name:"), record);
      assert(before.length > 0 && after.length > 0 && after !== "…", `${before} / ${after}`);
    }

    // Generate in the tab with the prefix it trained.
    await page.select("#task", "@tab");
    await generateAnswer(page); // asserts the answer is no error

    // Download the bundle; the CLI verifies it against the model it was trained on.
    await page.click("#download");
    const file = join(downloads, "pet-stories.prefix.zip");
    for (let i = 0; i < 100 && !(await Deno.stat(file).then(() => true, () => false)); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const inspect = await new Deno.Command(Deno.execPath(), {
      args: ["task", "bundle", "inspect", file, "--model", join(ROOT, "models/stories260K")],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(inspect.stdout) + new TextDecoder().decode(inspect.stderr);
    assertEquals(inspect.code, 0, out);
    assert(out.includes("pet-stories"), out);
  } finally {
    await Deno.remove(downloads, { recursive: true });
  }
});
