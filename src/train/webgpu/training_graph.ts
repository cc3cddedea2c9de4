/**
 * What the trainer needs from a model family's training graph. Each family (GPT-2, Llama)
 * implements it in its own file; the trainer, the LM head, the prefix module's backward and
 * AdamW are shared.
 *
 * @module
 */
import type { ModelConfig } from "../../model/mod.ts";
import type { LmHead } from "./lm_head.ts";

/** The forward and backward passes of one family with a prefix, recorded as kernel dispatches. */
export interface TrainingGraph {
  /** The model's configuration. */
  readonly config: ModelConfig;
  /** Most token rows (maxBatch x maxLen). */
  readonly maxRows: number;
  /** Inputs, embedding, logits and loss. */
  readonly head: LmHead;
  /**
   * Record the forward pass for B rows of T tokens after a prefix of P tokens held in
   * `kv` [P, S]; leaves the per-row softmax statistics in `head.stats`.
   */
  recordForward(enc: GPUCommandEncoder, B: number, T: number, P: number, kv: GPUBuffer): void;
  /**
   * Record one vocabulary chunk's logits again (after {@link recordForward}, which leaves the
   * final hidden states in place).
   */
  recordChunkLogits(
    enc: GPUCommandEncoder,
    c: number,
    M: number,
  ): ReturnType<LmHead["recordChunkLogits"]>;
  /**
   * Record the backward pass of the summed token losses after {@link recordForward}; adds
   * the prefix's gradient into `dkv` [P, S].
   */
  recordBackward(
    enc: GPUCommandEncoder,
    B: number,
    T: number,
    P: number,
    kv: GPUBuffer,
    dkv: GPUBuffer,
  ): void;
}
