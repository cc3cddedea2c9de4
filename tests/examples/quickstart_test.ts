import { assert, assertEquals } from "../_assert.ts";

Deno.test("examples/quickstart.ts (the README's library tour) runs and trains", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../examples/quickstart.ts", import.meta.url).pathname],
  }).output();
  const out = new TextDecoder().decode(stdout);
  assertEquals(code, 0, new TextDecoder().decode(stderr));
  const losses = out.match(/^losses (.*)$/m)?.[1].split(" ").map(Number) ?? [];
  assertEquals(losses.length, 10);
  assert(losses[9] < losses[0], `loss should fall: ${losses.join(" ")}`);
  assert(/^logits dims 1x3x1000$/m.test(out), out);
  assert(/^bundle bytes \d+$/m.test(out), out);
});
