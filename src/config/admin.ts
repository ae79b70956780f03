import { readPolicy } from "../policy/parse";
import type { Policy } from "../policy/types";
import type { AuthConfig, AuthProvider } from "./auth";
import type { SettingsReader } from "./reader";

/** The claim that names an operator in the audit log: the subject, whatever claim maps users. */
const OPERATOR_CLAIM = ["sub"] as const;

/** The admin API's settings; absent when `ADMIN_POLICY` is unset, and the admin API is then 404. */
export interface AdminConfig {
  /** `ADMIN_POLICY`: what an operator's verified claims must meet (no workflows). */
  policy: Policy;
  /** `ADMIN_AUDIENCE`: the only `aud` an operator token may carry; never a user audience. */
  audience: string;
  /**
   * The configured providers with {@link audience} as their only audience
   * and `sub` as the principal: an operator token is verified exactly like a
   * user token (issuer, keys, algorithms, time), except for whom it is for.
   * A separate object, so the token cache never hands a user token's
   * verification to the admin API or the other way round.
   */
  auth: AuthConfig;
}

/**
 * Reads `ADMIN_POLICY` and `ADMIN_AUDIENCE`. Both or neither: a policy
 * without its own audience would accept any user token that happens to meet
 * it, and an audience without a policy would be a setting that cannot take
 * effect. The audience must differ from every user audience, so a token the
 * SPA holds is never an operator credential.
 */
export function readAdmin(read: SettingsReader, auth: AuthConfig | undefined): AdminConfig | undefined {
  const policy = readPolicy(read, "ADMIN_POLICY", undefined);
  const audience = read.string("ADMIN_AUDIENCE");
  const policySet = read.json("ADMIN_POLICY") !== undefined;
  if (!policySet) {
    if (audience !== undefined) read.problem("ADMIN_AUDIENCE", "is set without ADMIN_POLICY; set both or neither");
    return undefined;
  }
  if (audience === undefined) {
    read.problem("ADMIN_AUDIENCE", "is required with ADMIN_POLICY");
    return undefined;
  }
  if (auth === undefined || policy === undefined) return undefined;
  const providers = [...auth.providers.values()];
  if (providers.some((provider) => provider.audiences.includes(audience))) {
    // A user's token must never be an operator's.
    read.problem("ADMIN_AUDIENCE", "must differ from every user audience");
    return undefined;
  }
  const operatorProviders = providers.map((provider): [string, AuthProvider] => [
    provider.issuer,
    { ...provider, audiences: [audience], userClaim: OPERATOR_CLAIM, requireVerifiedEmail: false },
  ]);
  return { policy, audience, auth: { ...auth, providers: new Map(operatorProviders) } };
}
