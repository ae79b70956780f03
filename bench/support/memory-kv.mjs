// An in-memory stand-in for a Workers KVNamespace, with a count of every
// call by kind. It has no latency and no per-key write limit: it isolates the
// worker's own CPU, and the counts are what Workers KV would bill.

/** Workers KV list pages hold at most this many keys. */
const MAX_LIST_LIMIT = 1000;

const PRICED_KINDS = ["read", "write", "list", "delete"];

export class MemoryKV {
  #entries = new Map();
  /** Calls by billing kind, split by whether the key is a session record or anything else (e.g. a JWKS cache). */
  counts = { session: zero(), other: zero() };

  #count(kind, key) {
    this.counts[key.startsWith("session:") ? "session" : "other"][kind]++;
  }

  async get(key, options) {
    this.#count("read", key);
    const entry = this.#live(key);
    return entry === undefined ? null : decode(entry.value, typeof options === "string" ? options : options?.type);
  }

  async getWithMetadata(key, options) {
    this.#count("read", key);
    const entry = this.#live(key);
    if (entry === undefined) return { value: null, metadata: null };
    const type = typeof options === "string" ? options : options?.type;
    return { value: decode(entry.value, type), metadata: entry.metadata ?? null };
  }

  async put(key, value, options = {}) {
    this.#count("write", key);
    const text = typeof value === "string" ? value : new TextDecoder().decode(value);
    const expiration =
      options.expiration ??
      (options.expirationTtl === undefined ? undefined : Math.floor(Date.now() / 1000) + options.expirationTtl);
    this.#entries.set(key, { value: text, metadata: options.metadata, expiration });
  }

  async delete(key) {
    this.#count("delete", key);
    this.#entries.delete(key);
  }

  async list({ prefix = "", limit = MAX_LIST_LIMIT } = {}) {
    this.#count("list", prefix);
    const names = [...this.#entries.keys()].filter((name) => name.startsWith(prefix) && this.#live(name)).sort();
    const keys = names.slice(0, Math.min(limit, MAX_LIST_LIMIT)).map((name) => {
      const { metadata, expiration } = this.#entries.get(name);
      return {
        name,
        ...(expiration === undefined ? {} : { expiration }),
        ...(metadata === undefined ? {} : { metadata }),
      };
    });
    const complete = keys.length === names.length;
    return complete ? { keys, list_complete: true } : { keys, list_complete: false, cursor: keys.at(-1).name };
  }

  /** Drops session records only, so that a cache the worker keeps in KV survives between benchmarks. */
  clearSessions() {
    for (const name of this.#entries.keys()) if (name.startsWith("session:")) this.#entries.delete(name);
  }

  /** Names of keys that are not session records (what the worker persists besides sessions). */
  otherKeys() {
    return [...this.#entries.keys()].filter((name) => !name.startsWith("session:"));
  }

  resetCounts() {
    this.counts = { session: zero(), other: zero() };
  }

  #live(key) {
    const entry = this.#entries.get(key);
    if (entry?.expiration !== undefined && entry.expiration <= Date.now() / 1000) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }
}

function zero() {
  return Object.fromEntries(PRICED_KINDS.map((kind) => [kind, 0]));
}

function decode(text, type = "text") {
  if (type === "json") return JSON.parse(text);
  if (type === "arrayBuffer") return new TextEncoder().encode(text).buffer;
  if (type === "stream") return new Blob([text]).stream();
  return text;
}
