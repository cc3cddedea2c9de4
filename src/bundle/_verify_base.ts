/**
 * Checks of a manifest against itself and against the base model it is
 * about to be used with (architecture, fingerprints, tokenizer).
 *
 * @module
 */
import { type LoadedModel, readExportRecord } from "../model/mod.ts";
import { BundleError } from "./bundle_error.ts";
import { baseArchitecture, fingerprintKinds, modelFingerprint } from "./fingerprint.ts";
import type {
  BaseArchitecture,
  BaseFingerprint,
  BundleManifest,
  FingerprintKind,
} from "./manifest.ts";

/** The manifest's own numbers must agree with each other. */
export function checkManifestConsistent(m: BundleManifest, file: string): void {
  const a = m.base.architecture;
  for (const k of ["numLayers", "numKvHeads", "headDim"] as const) {
    if (m[k] !== a[k]) {
      throw new BundleError(
        "BUNDLE_CORRUPT",
        file,
        `Cannot read ${file}: manifest ${k} is ${m[k]} but base.architecture.${k} is ${a[k]}`,
      );
    }
  }
  if (m.prefixLen >= a.maxPositions) {
    throw new BundleError(
      "PREFIX_MISMATCH",
      file,
      `Cannot read ${file}: prefixLen ${m.prefixLen} leaves no context (the base has ${a.maxPositions} positions)`,
    );
  }
}

export async function verifyBase(
  m: BundleManifest,
  model: LoadedModel,
  file: string,
): Promise<void> {
  const want = m.base.architecture;
  const have = baseArchitecture(model.config);
  // Both sides' keys: the feature fields appear only where a model has the feature.
  const keys = new Set([...Object.keys(have), ...Object.keys(want)]) as Set<keyof BaseArchitecture>;
  const diffs = [...keys]
    .filter((k) => want[k] !== have[k])
    .map((k) => `${k} ${want[k]} (bundle) vs ${have[k]} (model)`);
  if (diffs.length) {
    throw new BundleError(
      "BASE_MISMATCH",
      file,
      `Cannot use ${file} with the model in ${model.paths.dir}: it was made for another architecture: ${
        diffs.join(", ")
      }`,
    );
  }
  await verifyWeights(m, model, file);
  const tok = model.tokenizer?.fingerprint;
  if (m.tokenizerFingerprint && tok && tok !== m.tokenizerFingerprint) {
    throw new BundleError(
      "BASE_MISMATCH",
      file,
      `Cannot use ${file} with the model in ${model.paths.dir}: its tokenizer differs from the one the prefix was trained with`,
    );
  }
}

const WEIGHTS: FingerprintKind = "safetensors-sample-v1";

/**
 * A bundle binds to the base model's weights, not to one ONNX file's bytes or dtype: a re-export
 * of the same weights (f32, f16, q8) keeps serving it. So the weights' fingerprint decides:
 * - a folder with model.safetensors computes it (and its ONNX graph must come from those
 *   weights, when export.json says which it came from);
 * - a folder with only the graph reads it from the graph's export.json;
 * - only where neither is known (a graph exported by another tool) does the graph's own
 *   fingerprint stand in, as bundles did before.
 */
async function verifyWeights(m: BundleManifest, model: LoadedModel, file: string): Promise<void> {
  const fps: BaseFingerprint[] = [m.base.fingerprint, ...(m.base.otherFingerprints ?? [])];
  const wanted = fps.find((f) => f.kind === WEIGHTS)?.sha256;
  const record = await readExportRecord(model);
  const exportedFrom = record?.source?.fingerprint;
  const otherWeights = (what: string, have: string, want: string) =>
    new BundleError(
      "BASE_MISMATCH",
      file,
      `Cannot use ${file} with the model in ${model.paths.dir}: ${what} ${WEIGHTS} fingerprint is ${
        have.slice(0, 12)
      }… but the bundle's is ${want.slice(0, 12)}… (same architecture, other weights)`,
    );
  if (model.paths.weights) {
    const have = (await modelFingerprint(model, WEIGHTS)).sha256;
    if (exportedFrom && exportedFrom !== have) {
      throw new BundleError(
        "BASE_MISMATCH",
        file,
        `Cannot use ${file} with the model in ${model.paths.dir}: its onnx/model.onnx was exported from other weights than its model.safetensors; export it again (deno task export-onnx --model ${model.paths.dir})`,
      );
    }
    if (wanted) {
      if (have !== wanted) throw otherWeights("its", have, wanted);
      return;
    }
  } else if (wanted && exportedFrom) {
    if (exportedFrom !== wanted) {
      throw otherWeights("the weights its ONNX graph holds have the", exportedFrom, wanted);
    }
    return;
  }
  // Neither side knows the weights' fingerprint: compare what both can compute.
  const kinds = fingerprintKinds(model);
  let checked = 0;
  for (const fp of fps) {
    const kind = fp.kind as FingerprintKind;
    if (!kinds.includes(kind)) continue; // a kind this folder (or reader) cannot compute
    const mine = await modelFingerprint(model, kind);
    if (mine.sha256 !== fp.sha256) {
      throw new BundleError(
        "BASE_MISMATCH",
        file,
        `Cannot use ${file} with the model in ${model.paths.dir}: its ${fp.kind} fingerprint is ${
          fp.sha256.slice(0, 12)
        }… but the model's is ${mine.sha256.slice(0, 12)}… (same architecture, other weights${
          kind === WEIGHTS ? "" : ", or a graph exported by another tool"
        })`,
      );
    }
    checked++;
  }
  if (checked === 0) {
    throw new BundleError(
      "BASE_MISMATCH",
      file,
      `Cannot verify ${file} against the model in ${model.paths.dir}: the bundle carries ${
        fps.map((f) => f.kind).join(", ")
      } fingerprints and the model folder can produce ${kinds.join(", ") || "none"}`,
    );
  }
}
