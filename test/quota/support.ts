import { env, runInDurableObject } from "cloudflare:test";
import { DAY_SECONDS, type UserQuota } from "../../src/quota/user-quota";

export const quotas = () => (env as unknown as { USER_QUOTAS: DurableObjectNamespace<UserQuota> }).USER_QUOTAS;

/**
 * The real USER_QUOTAS namespace, wrapped so that every call a worker makes
 * on a stub is counted by method name: what a create, cancel or block costs
 * in Durable Object calls.
 */
export function countingQuotas(): { namespace: DurableObjectNamespace<UserQuota>; calls: string[] } {
  const calls: string[] = [];
  const real = quotas();
  const namespace = {
    idFromName: (name: string) => real.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = real.get(id);
      return new Proxy(stub, {
        get(target, key) {
          const member = Reflect.get(target, key);
          if (typeof key !== "string" || typeof member !== "function") return member;
          return (...args: unknown[]) => {
            calls.push(key);
            // An RPC method is called as it is, not through .apply (which RPC would take for a method name).
            return (member as (...a: unknown[]) => unknown)(...args);
          };
        },
      });
    },
  } as unknown as DurableObjectNamespace<UserQuota>;
  return { namespace, calls };
}

/** The user's active slots and today's starts, read from the Durable Object's own tables. */
export async function snapshot(ownerKey: string, now: number): Promise<{ active: number; startedToday: number }> {
  const namespace = quotas();
  return runInDurableObject(namespace.get(namespace.idFromName(ownerKey)), (_instance, state) => {
    const count = (query: string, ...args: unknown[]) => state.storage.sql.exec<{ n: number }>(query, ...args).one().n;
    return {
      active: count("SELECT COUNT(*) AS n FROM active WHERE expires_at > ?", now),
      startedToday: count(
        "SELECT COALESCE(SUM(count), 0) AS n FROM started WHERE day = ?",
        Math.floor(now / DAY_SECONDS),
      ),
    };
  });
}
