/**
 * The thin layer every CLI shares: `node:util` parseArgs (JSR's `@std/cli` is
 * out of reach), a generated `--help` text, and one way to report errors.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { PrefixEdgeError } from "../errors/mod.ts";

/** One command-line option. */
export interface CliOption {
  /** `string` takes a value, `boolean` is a flag. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** Shown in `--help`. */
  description: string;
  /** Whether the option may repeat (values collect into an array). */
  multiple?: boolean;
  /** Placeholder shown in `--help` (`--model DIR`). */
  valueName?: string;
}

/** A command's name, summary and options. `--help` is added automatically. */
export interface CliSpec {
  /** How the command is invoked, e.g. `deno task generate`. */
  usage: string;
  /** One paragraph shown under the usage line. */
  description: string;
  /** Options by long name. */
  options: Record<string, CliOption>;
}

/** Parsed values: strings, booleans, or arrays for `multiple` options. */
export type CliValues = Record<string, string | boolean | string[] | undefined>;

/**
 * Parse `args` against `spec`. Returns `null` after printing help when
 * `--help` is given, so the caller can simply return.
 *
 * @param spec the command's options
 * @param args usually `Deno.args`
 * @returns the values, or `null` when help was printed
 * @throws {PrefixEdgeError} `INVALID_INPUT` for unknown options, missing values
 *   or stray positional arguments
 */
export function parseCli(spec: CliSpec, args: string[]): CliValues | null {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = { help: { type: "boolean", short: "h" } };
  for (const [name, o] of Object.entries(spec.options)) {
    // parseArgs rejects keys that are present but undefined.
    options[name] = { type: o.type };
    if (o.short) options[name].short = o.short;
    if (o.multiple) options[name].multiple = true;
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new PrefixEdgeError(
      "INVALID_INPUT",
      `Cannot parse arguments: ${parseErrorMessage(e)} (see --help)`,
      { cause: e },
    );
  }
  if (parsed.values.help) {
    console.log(formatHelp(spec));
    return null;
  }
  return parsed.values as CliValues;
}

/**
 * One line for a `parseArgs` error. Node's messages can run over several
 * lines and explain `--` escapes; a user needs the first sentence, and for a
 * value that starts with a dash (`--steps -1`), how to write it.
 *
 * @param e the error `parseArgs` threw
 * @returns a one-line message without a trailing period
 */
export function parseErrorMessage(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const ambiguous = /^Option '(--[^' ]+)[^']*' argument is ambiguous/.exec(message);
  if (ambiguous) {
    const flag = ambiguous[1];
    return `${flag} got a value that starts with "-"; write it as ${flag}=VALUE`;
  }
  return message.split(/\n|\. (?=To specify|Did you)/)[0].replace(/\.$/, "");
}

/**
 * Render `--help` for a spec.
 *
 * @param spec the command's options
 * @returns the help text
 */
export function formatHelp(spec: CliSpec): string {
  const rows: [string, string][] = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${
      o.type === "string" ? ` ${o.valueName ?? "VALUE"}` : ""
    }`;
    return [flag, o.description + (o.multiple ? " (repeatable)" : "")];
  });
  rows.push(["-h, --help", "Show this help"]);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return [
    `Usage: ${spec.usage}`,
    "",
    spec.description,
    "",
    "Options:",
    ...rows.map(([f, d]) => `  ${f.padEnd(width)}${d}`),
  ].join("\n");
}

/**
 * Parse a numeric option.
 *
 * @param values parsed values
 * @param name option name
 * @param kind `int` requires an integer
 * @param min the smallest value allowed, if any
 * @returns the number, or `undefined` when the option is absent
 * @throws {PrefixEdgeError} `INVALID_INPUT` when the value is not a number,
 *   not an integer for `int`, or below `min`
 */
export function numberOption(
  values: CliValues,
  name: string,
  kind: "int" | "float" = "float",
  min?: number,
): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== "string" || v.trim() === "" || !Number.isFinite(n)) {
    throw new PrefixEdgeError("INVALID_INPUT", `Cannot parse --${name}: "${v}" is not a number`);
  }
  if (kind === "int" && !Number.isInteger(n)) {
    throw new PrefixEdgeError("INVALID_INPUT", `Cannot parse --${name}: "${v}" is not an integer`);
  }
  if (min !== undefined && n < min) {
    throw new PrefixEdgeError("INVALID_INPUT", `Cannot parse --${name}: ${v} is less than ${min}`);
  }
  return n;
}

/**
 * Run a CLI's main function: print `error: <message>` (and the code) for a
 * `PrefixEdgeError` and exit 1, instead of a stack trace.
 *
 * @param main the command's body
 */
export async function runCli(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    if (e instanceof PrefixEdgeError) {
      console.error(`error [${e.code}]: ${e.message}`);
      Deno.exit(1);
    }
    throw e;
  }
}
