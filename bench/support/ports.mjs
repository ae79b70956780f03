// Free ports for the bench's `wrangler dev` workers and their inspectors:
// below the kernel's ephemeral range and never 8787-8790 (scripts/free-ports.mjs).
export { freePort } from "../../scripts/free-ports.mjs";
