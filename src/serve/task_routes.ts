/**
 * Task management routes: `GET /v1/tasks`, `GET /v1/models` and `GET /v1/models/:id` (OpenAI's list,
 * with `base` first), `PUT /v1/tasks/:task` (upload; bearer token) and
 * `DELETE /v1/tasks/:task` (bearer token).
 *
 * @module
 */
import type { Hono } from "hono";
import { PrefixEdgeError } from "../errors/mod.ts";
import { manifestSummary, type ServeContext } from "./serve_context.ts";
import { checkBearer } from "./admin_auth.ts";
import { readBytesBody } from "./read_body.ts";
import { BASE_TASK, validateTaskName } from "./task_name.ts";

/**
 * Register the task routes on an app.
 *
 * @param app the Hono app
 * @param ctx registry, limits and admin token
 */
export function addTaskRoutes(app: Hono, ctx: ServeContext): void {
  app.get("/v1/tasks", async (c) => {
    const tasks = await ctx.registry.list();
    return c.json({
      object: "list",
      data: tasks.map((t) => ({
        task: t.task,
        loaded: t.loaded,
        ...(t.manifest ? { manifest: manifestSummary(t.manifest) } : {}),
        ...(t.error ? { error: t.error } : {}),
      })),
      cache: {
        tasks: ctx.registry.cached().length,
        bytes: ctx.registry.cachedBytes,
        budget_bytes: ctx.registry.budgetBytes,
      },
    });
  });

  const model = (id: string) => ({ id, object: "model", created: 0, owned_by: "prefix-edge" });
  app.get("/v1/models", async (c) => {
    const tasks = await ctx.registry.list();
    return c.json({
      object: "list",
      data: [model(BASE_TASK), ...tasks.filter((t) => !t.error).map((t) => model(t.task))],
    });
  });

  app.get("/v1/models/:id", async (c) => {
    const id = c.req.param("id");
    if (id === BASE_TASK) return c.json(model(id));
    const found = (await ctx.registry.list()).find((t) => t.task === id && !t.error);
    if (!found) {
      throw new PrefixEdgeError(
        "UNKNOWN_TASK",
        `Cannot find model '${id.slice(0, 80)}': no such task (GET /v1/models lists them)`,
        { param: "model" },
      );
    }
    return c.json(model(id));
  });

  app.put("/v1/tasks/:task", async (c) => {
    const task = c.req.param("task");
    checkBearer(c.req.raw, ctx.adminToken, `upload task '${task.slice(0, 80)}'`);
    validateTaskName(task);
    const bytes = await readBytesBody(c.req.raw, ctx.limits.maxUploadBytes);
    if (bytes.length === 0) {
      throw new PrefixEdgeError("INVALID_INPUT", `Cannot upload task '${task}': the body is empty`);
    }
    const { entry, replaced } = await ctx.registry.put(task, bytes);
    ctx.log(`${replaced ? "replaced" : "added"} task '${task}' (P=${entry.prefix.prefixLen})`);
    return c.json(
      { task, replaced, manifest: manifestSummary(entry.manifest) },
      replaced ? 200 : 201,
    );
  });

  app.delete("/v1/tasks/:task", async (c) => {
    const task = c.req.param("task");
    checkBearer(c.req.raw, ctx.adminToken, `delete task '${task.slice(0, 80)}'`);
    validateTaskName(task);
    if (!(await ctx.registry.remove(task))) {
      throw new PrefixEdgeError(
        "UNKNOWN_TASK",
        `Cannot delete task '${task}': there is no such task`,
      );
    }
    ctx.log(`deleted task '${task}'`);
    return c.json({ task, deleted: true });
  });
}
