/// <reference lib="dom" />
/** Steps of the playground page that more than one browser test takes. */
import type { Page } from "puppeteer-core";
import { assert } from "../_assert.ts";

/**
 * Press Generate, wait until the answer is in and the button is free again, and return the
 * answer, asserting that the page did not show it as an error.
 */
export async function generateAnswer(page: Page): Promise<string> {
  await page.click("#generate");
  await page.waitForFunction(() =>
    !(document.getElementById("generate") as HTMLButtonElement).disabled &&
    (document.getElementById("answer")?.textContent ?? "").length > 0
  );
  const answer = await page.$eval("#answer", (el) => el.textContent ?? "");
  assert(!(await page.$("#answer.error")), answer);
  return answer;
}
