/**
 * Checks of a manifest against itself and against the base model it is
 * about to be used with (architecture, fingerprints, tokenizer).
 *
 * @module
 */
import type { LoadedModel } from "../model/mod.ts";
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
  const fps: BaseFingerprint[] = [m.base.fingerprint, ...(m.base.otherFingerprints ?? [])];
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
        }… but the model's is ${mine.sha256.slice(0, 12)}… (same architecture, other weights)`,
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
  const tok = model.tokenizer?.fingerprint;
  if (m.tokenizerFingerprint && tok && tok !== m.tokenizerFingerprint) {
    throw new BundleError(
      "BASE_MISMATCH",
      file,
      `Cannot use ${file} with the model in ${model.paths.dir}: its tokenizer differs from the one the prefix was trained with`,
    );
  }
}
