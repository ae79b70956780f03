// Output helpers. Everything goes through process.stdout directly, because the
// in-process sections silence console.* while the worker's request logs run.

export function line(text = "") {
  process.stdout.write(`${text}\n`);
}

export function heading(number, title) {
  line();
  line(`${number}. ${title}`);
}

/** Prints rows as left-aligned columns; the first row is the header. */
export function table(rows, indent = "   ") {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column] ?? "").length)));
  for (const row of rows) {
    line(
      indent +
        row
          .map((cell, column) => String(cell ?? "").padEnd(widths[column]))
          .join("  ")
          .trimEnd(),
    );
  }
}

export const yesNo = (ok) => (ok ? "yes" : "NO");

export const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

export const ratio = (value) => `${value.toFixed(2)}×`;

export const percent = (value) => `${(value * 100).toFixed(0)}%`;

export const grouped = (value) => Math.round(value).toLocaleString("en-US");

/** Milliseconds; "n/a" for a figure that could not be measured (NaN). */
export const ms = (value) => (Number.isFinite(value) ? value.toFixed(1) : "n/a");

export const usd = (value) => `$${value.toFixed(2)}`;
