/**
 * `deno task export-onnx`: write the ONNX decoder (with past_key_values) that
 * generate, serve and loadModel run, from an HF checkpoint's config.json and
 * model.safetensors, without Python.
 *
 * @module
 */
import { join } from "node:path";
import { EXPORT_DTYPES, type ExportDtype, exportOnnx } from "../onnx/mod.ts";
import { formatDuration, ProgressBar } from "../train/mod.ts";
import { type CliSpec, numberOption, parseCli, runCli, UsageError } from "./_args.ts";

const SPEC: CliSpec = {
  usage:
    "deno task export-onnx --model DIR [--dtype f32|f16|q8|q4] [--calibration FILE] [--optimize] [--out FILE]",
  description:
    "Export a GPT-2 or Llama checkpoint (config.json + model.safetensors) as an ONNX decoder with\n" +
    "past_key_values (Optimum / transformers.js names), and record how in onnx/export.json.\n" +
    "Weights over 2 GB go to external data beside the graph (model.onnx_data).",
  options: {
    model: { type: "string", valueName: "DIR", description: "HF model folder (required)" },
    dtype: {
      type: "string",
      valueName: "DTYPE",
      description:
        "weight storage: f32 (default, exact), f16 (half the size), q8 (int8 matrices with per-channel scales), " +
        "q4 (4-bit matrices and 8-bit tables in blocks of 32 run by ORT's MatMulNBits, about 1/5 of the size)",
    },
    optimize: {
      type: "boolean",
      description:
        "attend with ORT's GroupQueryAttention: each row of a batch over its own length (docs/onnx-export.md)",
    },
    calibration: {
      type: "string",
      valueName: "FILE",
      description:
        "q4: quantize the 4-bit matrices by GPTQ, calibrated on this UTF-8 text in the model's domain " +
        '(lower logits error than plain rounding; docs/onnx-export.md, "Calibrated q4")',
    },
    "calibration-sequences": {
      type: "string",
      valueName: "N",
      description: "most calibration sequences cut from the text (default 32)",
    },
    "calibration-tokens": {
      type: "string",
      valueName: "N",
      description: "tokens per calibration sequence, BOS included (default 128)",
    },
    out: {
      type: "string",
      valueName: "FILE",
      description: "graph path (default DIR/onnx/model.onnx; export.json goes beside it)",
    },
  },
};

async function main(): Promise<void> {
  const values = parseCli(SPEC, Deno.args);
  if (!values) return;
  const dir = values.model as string | undefined;
  if (!dir) throw new UsageError("Cannot parse arguments: --model DIR is required (see --help)");
  const dtype = ((values.dtype as string | undefined) ?? "f32") as ExportDtype;
  if (!EXPORT_DTYPES.includes(dtype)) {
    throw new UsageError(`Cannot parse --dtype: "${dtype}" is not ${EXPORT_DTYPES.join(", ")}`);
  }
  const calibrationFile = values.calibration as string | undefined;
  const sequences = numberOption(values, "calibration-sequences", "int", 1);
  const tokens = numberOption(values, "calibration-tokens", "int", 2);
  if (!calibrationFile && (sequences !== undefined || tokens !== undefined)) {
    throw new UsageError("Cannot parse arguments: --calibration-* options need --calibration FILE");
  }
  if (calibrationFile && dtype !== "q4") {
    throw new UsageError(`Cannot parse arguments: --calibration is for --dtype q4, not ${dtype}`);
  }
  let text: string | undefined;
  if (calibrationFile) {
    try {
      text = await Deno.readTextFile(calibrationFile);
    } catch (e) {
      throw new UsageError(`Cannot read --calibration ${calibrationFile}: ${(e as Error).message}`);
    }
  }
  const started = performance.now();
  let bar: ProgressBar | undefined, calibrationBar: ProgressBar | undefined;
  const r = await exportOnnx(dir, {
    dtype,
    ...(text !== undefined ? { calibration: { text, sequences, tokens } } : {}),
    onCalibration({ done, total }) {
      calibrationBar ??= new ProgressBar(total, undefined, "calibrate (sequences)");
      const s = (performance.now() - started) / 1000;
      calibrationBar.update(done, { etaSec: (s / done) * (total - done) }, done === total);
      if (done === total) calibrationBar.finish();
    },
    optimize: values.optimize === true,
    out: (values.out as string | undefined) ?? join(dir, "onnx", "model.onnx"),
    onProgress({ done, total }) {
      bar ??= new ProgressBar(total, undefined, "export");
      const s = (performance.now() - started) / 1000;
      bar.update(done, { etaSec: (s / done) * (total - done) }, done === total);
    },
  });
  bar?.finish();
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
  const f = r.record.files;
  console.error(
    `wrote ${r.onnxPath} (${mb(f.graphBytes)}${
      f.externalDataBytes !== undefined ? ` + ${mb(f.externalDataBytes)} external data` : ""
    }, ${dtype}${
      r.record.options.fusedOps.length ? `, fused: ${r.record.options.fusedOps.join(", ")}` : ""
    }${
      r.record.options.calibration
        ? `, GPTQ on ${r.record.options.calibration.sequences} sequences of ${r.record.options.calibration.tokens} tokens`
        : ""
    }) and ${r.recordPath} in ${formatDuration((performance.now() - started) / 1000)}`,
  );
}

if (import.meta.main) await runCli(main);
