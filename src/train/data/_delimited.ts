/**
 * Plain parsers for the two delimited formats the adapters read. CSV follows
 * RFC 4180 (quoted fields may hold commas, newlines and doubled quotes), as
 * the E2E release does. GLUE's TSVs are written with quoting turned off
 * (MRPC rows hold unbalanced `"`), so TSV is split on tabs only.
 *
 * @module
 */

/** One parsed row and the 1-based line it starts on (for error messages). */
export interface DelimitedRow {
  line: number;
  fields: string[];
}

/**
 * Parse RFC 4180 CSV text.
 *
 * @param text the file's text (a leading BOM is dropped)
 * @returns rows with their starting line; `unterminated` is the line of an open quote, if any
 */
export function parseCsv(text: string): { rows: DelimitedRow[]; unterminated?: number } {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const rows: DelimitedRow[] = [];
  let fields: string[] = [];
  let field = "";
  let line = 1;
  let rowLine = 1;
  let inQuotes = false;
  let quoteLine = 0;
  let rowHasContent = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (inQuotes) {
      if (c === '"') {
        if (src[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (c === "\n") line++;
        field += c;
      }
      continue;
    }
    if (c === '"') {
      inQuotes = true;
      quoteLine = line;
      rowHasContent = true;
    } else if (c === ",") {
      fields.push(field);
      field = "";
      rowHasContent = true;
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && src[i + 1] === "\n") i++;
      if (rowHasContent || field !== "") {
        fields.push(field);
        rows.push({ line: rowLine, fields });
      }
      fields = [];
      field = "";
      rowHasContent = false;
      line++;
      rowLine = line;
    } else {
      field += c;
      rowHasContent = true;
    }
  }
  if (inQuotes) return { rows, unterminated: quoteLine };
  if (rowHasContent || field !== "") {
    fields.push(field);
    rows.push({ line: rowLine, fields });
  }
  return { rows };
}

/**
 * Split TSV text on tabs and newlines, no quoting.
 *
 * @param text the file's text (a leading BOM is dropped)
 * @returns non-empty rows with their line numbers
 */
export function parseTsv(text: string): DelimitedRow[] {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const rows: DelimitedRow[] = [];
  const lines = src.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    rows.push({ line: i + 1, fields: lines[i].split("\t") });
  }
  return rows;
}
