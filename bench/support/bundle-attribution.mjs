// Where the gzip bytes of the bundle are: for each package (hono, jose) and
// each module of src/, how much smaller the gzip of the bundle gets without
// that module's characters. The bundle's source map says which source each
// output character came from. Leave-one-out, because gzip shares its window
// across modules: a module's own gzip size would count what the others
// already make cheap.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DIGIT = new Map([...BASE64].map((char, index) => [char, index]));
/** Base64 VLQ (source map v3): 5 bits a digit, bit 6 says another digit follows, the lowest bit of the value is the sign. */
const CONTINUE = 32;
const VALUE_BITS = 5;

function decodeSegment(segment) {
  const values = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = DIGIT.get(char);
    value += (digit & (CONTINUE - 1)) << shift;
    if (digit & CONTINUE) {
      shift += VALUE_BITS;
      continue;
    }
    values.push(value & 1 ? -(value >> 1) : value >> 1);
    value = 0;
    shift = 0;
  }
  return values;
}

/** For each line of `code`, each character's source index (or -1 where the map names none). */
function ownersOf(code, map) {
  const lines = code.split("\n");
  let source = 0;
  return map.mappings.split(";").map((mapped, index) => {
    const text = lines[index] ?? "";
    const owners = new Int32Array(text.length).fill(-1);
    let column = 0;
    const starts = [];
    for (const segment of mapped.split(",")) {
      if (segment === "") continue;
      const [columnDelta, sourceDelta] = decodeSegment(segment);
      column += columnDelta;
      if (sourceDelta !== undefined) source += sourceDelta;
      starts.push([column, sourceDelta === undefined ? -1 : source]);
    }
    starts.forEach(([from, owner], i) => {
      owners.fill(owner, from, i + 1 < starts.length ? starts[i + 1][0] : text.length);
    });
    return { text, owners };
  });
}

/** A package's name for anything under node_modules, else the path from src/. */
function groupOf(sourcePath) {
  const packaged = sourcePath.split("node_modules/")[1];
  if (packaged !== undefined) return packaged.split("/")[0];
  const index = sourcePath.lastIndexOf("src/");
  return index === -1 ? sourcePath : sourcePath.slice(index);
}

/**
 * @param entry the bundle's .js file, with `<entry>.map` beside it (wrangler writes one with upload_source_maps)
 * @returns groups by gzip bytes saved without them, largest first: `{ group, bytes }`
 */
export function attributeBundle(entry, gzipLevel) {
  const code = readFileSync(entry, "utf8");
  const map = JSON.parse(readFileSync(`${entry}.map`, "utf8"));
  const lines = ownersOf(code, map);
  const gzip = (text) => gzipSync(text, { level: gzipLevel }).length;
  const total = gzip(code);
  const groups = new Map();
  map.sources.forEach((path, index) => {
    const group = groupOf(path);
    groups.set(group, [...(groups.get(group) ?? []), index]);
  });
  const result = [];
  for (const [group, indexes] of groups) {
    const members = new Set(indexes);
    // By UTF-16 unit, as source map columns count.
    const keep = ({ text, owners }) => {
      let kept = "";
      for (let i = 0; i < text.length; i++) if (!members.has(owners[i])) kept += text[i];
      return kept;
    };
    const without = lines.map(keep).join("\n");
    result.push({ group, bytes: total - gzip(without) });
  }
  return result.sort((a, b) => b.bytes - a.bytes);
}
