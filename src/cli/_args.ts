/**
 * The thin layer every CLI shares: `node:util` parseArgs (JSR's `@std/cli` is
 * out of reach), a generated `--help` text, `--version`, and one way to report
 * errors: usage errors exit 2, failures exit 1.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { PrefixEdgeError } from "../errors/mod.ts";
import { VERSION } from "../version.ts";

/** A command line that does not parse (unknown option, missing value, stray argument): exit 2. */
export class UsageError extends PrefixEdgeError {
  /**
   * @param message "Cannot parse arguments: ..."
   * @param options the underlying error, if any
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_INPUT", message, options);
    this.name = "UsageError";
  }
}

/** Exit codes shared by every CLI. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

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
 * `--help` is given (or the version for `--version`), so the caller can simply return.
 *
 * @param spec the command's options
 * @param args usually `Deno.args`
 * @returns the values, or `null` when help was printed
 * @throws {UsageError} for unknown options, missing values or stray positional arguments
 */
export function parseCli(spec: CliSpec, args: string[]): CliValues | null {
  const parsed = parseCliArgs(spec, args, 0);
  return parsed && parsed.values;
}

/**
 * Parse `args` against `spec`, taking exactly `positionals` positional arguments.
 *
 * @param spec the command's options
 * @param args the arguments
 * @param positionals how many positional arguments the command takes
 * @param name what the positional is, for the error ("FILE")
 * @param out where help and the version are printed (default `console.log`)
 * @returns the values and positionals, or `null` when help or the version was printed
 * @throws {UsageError} for unknown options, missing values or a wrong number of positionals
 */
export function parseCliArgs(
  spec: CliSpec,
  args: string[],
  positionals: number,
  name = "argument",
  out: (text: string) => void = (text) => console.log(text),
): { values: CliValues; positionals: string[] } | null {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = { help: { type: "boolean", short: "h" }, version: { type: "boolean" } };
  for (const [name, o] of Object.entries(spec.options)) {
    // parseArgs rejects keys that are present but undefined.
    options[name] = { type: o.type };
    if (o.short) options[name].short = o.short;
    if (o.multiple) options[name].multiple = true;
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: positionals > 0 });
  } catch (e) {
    throw new UsageError(`Cannot parse arguments: ${parseErrorMessage(e)} (see --help)`, {
      cause: e,
    });
  }
  if (parsed.values.help) {
    out(formatHelp(spec));
    return null;
  }
  if (parsed.values.version) {
    out(`prefix-edge ${VERSION}`);
    return null;
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(
      `Cannot parse arguments: expected ${positionals} ${name}${
        positionals === 1 ? "" : "s"
      }, got ${parsed.positionals.length} (see --help)`,
    );
  }
  const { help: _h, version: _v, ...values } = parsed.values;
  return { values: values as CliValues, positionals: parsed.positionals };
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
  rows.push(["-h, --help", "Show this help"], ["    --version", "Print the version"]);
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
 * @throws {UsageError} when the value is not a number, not an integer for `int`, or below `min`
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
    throw new UsageError(`Cannot parse --${name}: "${v}" is not a number`);
  }
  if (kind === "int" && !Number.isInteger(n)) {
    throw new UsageError(`Cannot parse --${name}: "${v}" is not an integer`);
  }
  if (min !== undefined && n < min) {
    throw new UsageError(`Cannot parse --${name}: ${v} is less than ${min}`);
  }
  return n;
}

/**
 * The exit code and message for what a CLI threw: a {@link UsageError} is 2, any other
 * `PrefixEdgeError` is 1, both as one `error [CODE]: message` line; anything else is rethrown.
 *
 * @param e what was thrown
 * @returns the exit code and the line to print
 */
export function cliFailure(e: unknown): { code: number; line: string } {
  if (e instanceof PrefixEdgeError) {
    return {
      code: e instanceof UsageError ? EXIT.usage : EXIT.failure,
      line: `error [${e.code}]: ${e.message}`,
    };
  }
  throw e;
}

/**
 * Run a CLI's main function: print `error [CODE]: <message>` instead of a stack trace, and exit
 * 2 for a usage error, 1 for any other failure.
 *
 * @param main the command's body
 */
export async function runCli(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const { code, line } = cliFailure(e);
    console.error(line);
    Deno.exit(code);
  }
}
