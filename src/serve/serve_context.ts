/**
 * What every route handler needs, gathered once by `createApp`.
 *
 * @module
 */
import type { ServeEngine } from "./engine_port.ts";
import type { ServeLimits } from "./request_params.ts";
import type { Scheduler } from "./scheduler.ts";
import type { ServerMetrics } from "./server_metrics.ts";
import type { TaskRegistry } from "./task_registry.ts";

/** The parts of a running server, shared by its routes (and reachable as `app.serve`). */
export interface ServeContext {
  /** The inference engine. */
  engine: ServeEngine;
  /** Tasks on demand, with the LRU cache. */
  registry: TaskRegistry;
  /** The cross-task batching scheduler. */
  scheduler: Scheduler;
  /** Every metric `GET /metrics` shows. */
  metrics: ServerMetrics;
  /** Request limits. */
  limits: ServeLimits;
  /** Bearer token for uploads and deletes, or `null` (they are off). */
  adminToken: string | null;
  /** One-line event log. */
  log: (line: string) => void;
}

/** Manifest keys shown as they are in task listings. */
const SUMMARY_KEYS = [
  "format",
  "formatVersion",
  "task",
  "prefixLen",
  "numLayers",
  "numKvHeads",
  "headDim",
  "dtype",
  "createdAt",
];

/** Manifest objects shown by their scalar fields only (gate arrays, fingerprints and metrics stay in the bundle). */
const SCALAR_OBJECT_KEYS = ["method", "training"];

function scalars(v: unknown): Record<string, unknown> | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null || ["string", "number", "boolean"].includes(typeof x)) out[k] = x;
  }
  return out;
}

/** A short, JSON-safe view of a manifest for `GET /v1/tasks` and uploads. */
export function manifestSummary(manifest: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of SUMMARY_KEYS) if (manifest[k] !== undefined) out[k] = manifest[k];
  for (const k of SCALAR_OBJECT_KEYS) {
    const s = scalars(manifest[k]);
    if (s) out[k] = s;
  }
  const base = manifest.base as { name?: unknown } | undefined;
  if (base && typeof base === "object" && typeof base.name === "string") out.baseName = base.name;
  return out;
}
