import { env } from "cloudflare:test";
import type { UserQuota } from "../../src/quota/user-quota";

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

/** The user's active slots and today's starts, read from the Durable Object itself. */
export async function snapshot(ownerKey: string, now: number) {
  const namespace = quotas();
  return namespace.get(namespace.idFromName(ownerKey)).snapshot(now);
}
