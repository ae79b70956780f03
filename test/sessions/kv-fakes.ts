/**
 * KV wrappers for tests, injected as the SESSIONS binding: one counts every
 * operation (Miniflare does not enforce the 1,000 per invocation), one cuts
 * list pages short the way real KV may (Miniflare always fills a page).
 */

/** One KV call as the worker made it. */
export interface KvOperation {
  op: "get" | "put" | "delete" | "list";
  /** The key, or the prefix of a list. */
  key: string;
  /** `expirationTtl` of a put. */
  ttl?: number;
  metadata?: unknown;
}

/** Wraps `kv`, recording each call in `operations`. */
export function countingKv(kv: KVNamespace): { kv: KVNamespace; operations: KvOperation[] } {
  const operations: KvOperation[] = [];
  const counted = {
    get: (key: string, ...rest: unknown[]) => {
      operations.push({ op: "get", key });
      return (kv.get as (...args: unknown[]) => unknown)(key, ...rest);
    },
    put: (key: string, value: string, options?: KVNamespacePutOptions) => {
      operations.push({ op: "put", key, ttl: options?.expirationTtl, metadata: options?.metadata });
      return kv.put(key, value, options);
    },
    delete: (key: string) => {
      operations.push({ op: "delete", key });
      return kv.delete(key);
    },
    list: (options?: KVNamespaceListOptions) => {
      operations.push({ op: "list", key: options?.prefix ?? "" });
      return kv.list(options);
    },
  };
  return { kv: counted as unknown as KVNamespace, operations };
}

/**
 * Wraps `kv` so that list pages hold `sizes[i]` keys for the i-th page of a
 * listing (the last size repeats), with a cursor while keys remain: a page
 * may be empty and still not the last, as with KV's deleted keys.
 */
export function shortPagesKv(kv: KVNamespace, sizes: readonly number[]): KVNamespace {
  const paged = Object.create(kv) as KVNamespace;
  paged.get = kv.get.bind(kv) as KVNamespace["get"];
  paged.put = kv.put.bind(kv);
  paged.delete = kv.delete.bind(kv);
  paged.list = (async (options: KVNamespaceListOptions = {}) => {
    const all = await listAll(kv, options.prefix ?? "");
    const [page, offset] = options.cursor ? decodeCursor(options.cursor) : [0, 0];
    const size = sizes[Math.min(page, sizes.length - 1)] ?? 0;
    const keys = all.slice(offset, offset + size);
    const next = offset + keys.length;
    return next >= all.length && size > 0
      ? { keys, list_complete: true, cacheStatus: null }
      : { keys, list_complete: false, cursor: encodeCursor(page + 1, next), cacheStatus: null };
  }) as KVNamespace["list"];
  return paged;
}

/** Every key under `prefix`, through the real cursor. */
async function listAll(kv: KVNamespace, prefix: string): Promise<KVNamespaceListKey<unknown>[]> {
  const keys: KVNamespaceListKey<unknown>[] = [];
  let cursor: string | undefined;
  do {
    const page = await kv.list({ prefix, cursor });
    keys.push(...page.keys);
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
  return keys;
}

const encodeCursor = (page: number, offset: number) => btoa(`${page}.${offset}`).replace(/=+$/, "");
const decodeCursor = (cursor: string): [number, number] => {
  const [page, offset] = atob(cursor).split(".").map(Number);
  return [page ?? 0, offset ?? 0];
};

interface Stored {
  value: string;
  metadata?: unknown;
  /** Unix seconds. */
  expiration?: number;
}

/**
 * A KV namespace in memory, for tests that need hundreds of keys: Miniflare's
 * KV takes some ten milliseconds per write. It keeps keys in KV's order, pages
 * lists by `limit` with an opaque cursor, and honours `expirationTtl`.
 */
export class MemoryKv {
  private readonly store = new Map<string, Stored>();

  constructor(private readonly now: () => number = () => Math.floor(Date.now() / 1000)) {}

  /** The binding to inject as SESSIONS. */
  get binding(): KVNamespace {
    return this as unknown as KVNamespace;
  }

  async get(key: string, type?: unknown): Promise<unknown> {
    const entry = this.live(key);
    if (entry === undefined) return null;
    const wanted = typeof type === "object" && type !== null ? (type as { type?: string }).type : type;
    return wanted === "json" ? JSON.parse(entry.value) : entry.value;
  }

  async put(key: string, value: string, options: KVNamespacePutOptions = {}): Promise<void> {
    const stored: Stored = { value };
    if (options.metadata !== undefined) stored.metadata = structuredClone(options.metadata);
    if (options.expirationTtl !== undefined) stored.expiration = this.now() + options.expirationTtl;
    this.store.set(key, stored);
  }

  async delete(key: string): Promise<void> {
    this.store.delete(key);
  }

  async list(options: KVNamespaceListOptions = {}): Promise<KVNamespaceListResult<unknown>> {
    const prefix = options.prefix ?? "";
    const limit = options.limit ?? 1000;
    const after = options.cursor ? atob(options.cursor) : "";
    const names = [...this.store.keys()].filter((name) => name.startsWith(prefix) && name > after && this.live(name));
    names.sort();
    const keys = names.slice(0, limit).map((name) => {
      const { metadata, expiration } = this.store.get(name) as Stored;
      return {
        name,
        ...(metadata === undefined ? {} : { metadata }),
        ...(expiration === undefined ? {} : { expiration }),
      };
    });
    const last = keys.at(-1);
    return names.length > limit && last
      ? { keys, list_complete: false, cursor: btoa(last.name), cacheStatus: null }
      : { keys, list_complete: true, cacheStatus: null };
  }

  /** Every live entry under `prefix`, in key order, with the value parsed when it is JSON. */
  entries(prefix = "session:"): Array<{ name: string; value: unknown; metadata?: unknown; expiration?: number }> {
    return [...this.store.keys()]
      .filter((name) => name.startsWith(prefix) && this.live(name))
      .sort()
      .map((name) => {
        const { value, metadata, expiration } = this.store.get(name) as Stored;
        return { name, value: value === "" ? value : JSON.parse(value), metadata, expiration };
      });
  }

  private live(key: string): Stored | undefined {
    const entry = this.store.get(key);
    return entry && (entry.expiration === undefined || entry.expiration > this.now()) ? entry : undefined;
  }
}
