import { createWorker } from "./app";

/** The per-user session quota (wrangler.toml `USER_QUOTAS`); Workers finds Durable Object classes among the exports. */
export { UserQuota } from "./quota/user-quota";

export default createWorker();
