// The worker's setting names, for `npm run dev`: which names demo mode
// removes from the environment it gives wrangler, and which `.dev.vars` keys
// the worker would never read. The names come from src/config/settings.json,
// the one list the worker's own config is checked against. Dev-only.
import { readFileSync } from "node:fs";
import { parseEnv } from "node:util";

const SETTINGS_FILE = new URL("../src/config/settings.json", import.meta.url);
/** A `.dev.vars` key this close to a known name is most likely that name misspelt. */
const MAX_TYPO_DISTANCE = 2;

/** Every setting name the worker reads: its vars and its secrets. */
export function settingNames() {
  const { vars, secrets } = JSON.parse(readFileSync(SETTINGS_FILE, "utf8"));
  if (!Array.isArray(vars) || !Array.isArray(secrets)) {
    throw new Error('src/config/settings.json must be {"vars": [...], "secrets": [...]}');
  }
  return [...vars, ...secrets];
}

/**
 * `env` without any setting name. wrangler lets the process environment
 * override an `--env-file` for declared vars and secrets, so an exported
 * OPENAI_API_KEY would otherwise reach demo mode's stand-ins. Returns the
 * names it removed, so the banner can say they were ignored.
 */
export function withoutSettings(env, names) {
  const kept = { ...env };
  const removed = names.filter((name) => Object.hasOwn(kept, name));
  for (const name of removed) delete kept[name];
  return { env: kept, removed };
}

/** Levenshtein distance, for suggesting the setting a misspelt key meant. */
function distance(a, b) {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length];
}

/**
 * One warning per key of a `.dev.vars` text that is no setting of the
 * worker, naming the key (and the likely intended name), never its value.
 */
export function unknownKeyWarnings(text, names, file = ".dev.vars") {
  const known = new Set(names);
  return Object.keys(parseEnv(text))
    .filter((key) => !known.has(key))
    .map((key) => {
      const [near] = names
        .map((name) => ({ name, d: distance(key, name) }))
        .filter(({ d }) => d <= MAX_TYPO_DISTANCE)
        .sort((a, b) => a.d - b.d)
        .map(({ name }) => name);
      const hint = near ? `did you mean ${near}?` : "see src/config/settings.json for the names it knows";
      return `warning: ${file} sets ${key}, which the worker does not read (${hint})`;
    });
}
