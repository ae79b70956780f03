/**
 * Recognises the "put yours here" values of `.dev.vars.example`, the
 * `wrangler.toml` comments and the docs, so an unedited copy is
 * `config_invalid` instead of a worker that says ok and fails every request.
 * Each function returns the placeholder it found (the mark, never the rest
 * of the value, which may be a real secret), or undefined.
 */

/** Truncation marks: `sk-proj-...`, `wf_...`. No real key, id or URL contains them. */
const ELLIPSES = ["...", "…"];
/** Angle-bracket slots such as `<tenant>` or `<project-id>`, as the docs write them. */
const SLOT = /<[^<>\s]{1,64}>/;
/** Domains reserved for documentation (RFC 2606 §3, RFC 6761 §6.5): never a real issuer or API. */
const DOCUMENTATION_DOMAINS = ["example.com", "example.net", "example.org", "example"];
/** The examples' host labels: `your-tenant.us.auth0.com`, `your-app.clerk.accounts.dev`. */
const YOUR_LABEL = /^your-/i;

/** A placeholder anywhere in a setting's text. */
export function placeholderText(value: string): string | undefined {
  const ellipsis = ELLIPSES.find((mark) => value.includes(mark));
  if (ellipsis !== undefined) return `"${ellipsis}"`;
  return SLOT.test(value) ? "an <angle-bracket> slot" : undefined;
}

/** A placeholder host in an identity setting (issuer, audience, JWKS URL), when the value is a URL. */
export function placeholderHost(value: string): string | undefined {
  let hostname: string;
  try {
    hostname = new URL(value).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  const reserved = DOCUMENTATION_DOMAINS.find((domain) => hostname === domain || hostname.endsWith(`.${domain}`));
  if (reserved !== undefined) return `the documentation domain ${reserved}`;
  return hostname.split(".").some((label) => YOUR_LABEL.test(label)) ? 'a "your-" host' : undefined;
}

/** The problem text for a placeholder, naming the mark and where real values go. */
export function placeholderProblem(mark: string): string {
  return `is still a placeholder (${mark})`;
}
