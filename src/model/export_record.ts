/**
 * `onnx/export.json`, the record `deno task export-onnx` writes beside a graph: how it was made
 * and from which weights. It lives with the model folder's layout because both the exporter and
 * the bundle verifier read it.
 *
 * @module
 */
import type { ModelConfig } from "./config.ts";
import type { LoadedModel } from "./load_model.ts";
import { dirname, join } from "pathe";
import { folderFiles } from "./model_files.ts";

/** `onnx/export.json`: how a graph was exported. */
export interface ExportRecord {
  /** Always `prefix-edge-onnx-export`. */
  format: "prefix-edge-onnx-export";
  /** Version of this record's layout. */
  formatVersion: 1;
  /** The exporting tool and its version, e.g. `prefix-edge 0.1.0`. */
  tool: string;
  /** ISO time of the export. */
  createdAt: string;
  /** Weight storage. */
  dtype: "f32" | "f16" | "q8" | "q4";
  /** Options that shaped the graph. */
  options: {
    optimize: boolean;
    opset: number;
    externalData: boolean;
    /**
     * ORT contrib ops the graph uses (`com.microsoft` domain): `GroupQueryAttention` with
     * `optimize`, `MatMulNBits` with dtype q4; empty otherwise.
     */
    fusedOps: string[];
    /**
     * q4 only, when calibrated: its 4-bit matrices were quantized by GPTQ on this many sequences
     * of this many tokens of the user's text (absent: plain rounding).
     */
    calibration?: { method: "gptq"; sequences: number; tokens: number };
  };
  /** What was exported. */
  source: {
    family: ModelConfig["family"];
    modelType: string;
    /** sha256 of config.json. */
    configSha256: string;
    /** sha256 of model.safetensors. */
    weightsSha256: string;
    /** Size of model.safetensors. */
    weightsBytes: number;
    /**
     * The weights' `safetensors-sample-v1` fingerprint, the one bundles record: a folder that
     * has only this graph can still tell which weights it holds (absent in older records).
     */
    fingerprint?: string;
  };
  /** What was written, relative to the graph's folder. */
  files: { graph: string; externalData?: string; graphBytes: number; externalDataBytes?: number };
}

/**
 * Read `export.json` beside a graph, if there is one.
 *
 * @param onnxPath the graph's path, or a loaded model (its graph's folder, wherever it lives)
 * @returns the record, or `undefined` for a graph exported elsewhere
 *
 * @example Tell how a model's graph was exported
 * ```ts
 * import { deepStrictEqual as assertEquals } from "node:assert";
 * import { exportOnnx } from "../onnx/mod.ts";
 * import { VERSION } from "../version.ts";
 * import { readExportRecord } from "./export_record.ts";
 * const how = async (onnxPath: string) => {
 *   const rec = await readExportRecord(onnxPath);
 *   return rec ? `${rec.tool}, ${rec.dtype}` : "exported by another tool";
 * };
 * assertEquals(await how("models/stories260K/onnx/model.onnx"), "exported by another tool");
 * const dir = await Deno.makeTempDir();
 * const { onnxPath } = await exportOnnx("models/stories260K", { dtype: "q8", out: `${dir}/model.onnx` });
 * assertEquals(await how(onnxPath), `prefix-edge ${VERSION}, q8`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readExportRecord(
  onnxPath: string | LoadedModel,
): Promise<ExportRecord | undefined> {
  if (typeof onnxPath !== "string") {
    const m = onnxPath;
    if (!m.onnxFile) return undefined;
    const dir = m.onnxFile.includes("/")
      ? m.onnxFile.slice(0, m.onnxFile.lastIndexOf("/") + 1)
      : "";
    const bytes = await m.files.read(`${dir}export.json`);
    return bytes && JSON.parse(new TextDecoder().decode(bytes));
  }
  const bytes = await folderFiles("").read(join(dirname(onnxPath), "export.json"));
  return bytes && JSON.parse(new TextDecoder().decode(bytes));
}
