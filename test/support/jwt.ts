/** Hand-built JWT pieces for tokens no honest library would produce. */

export const b64url = (input: string | Uint8Array): string => {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

export const segment = (value: unknown): string => b64url(JSON.stringify(value));

/** `header.payload.signature` from raw parts. */
export const compact = (header: unknown, payload: unknown, signature = ""): string =>
  `${segment(header)}.${segment(payload)}.${signature}`;

/** The token with one character of its signature changed. */
export const tamper = (token: string): string => {
  const last = token.at(-2) === "A" ? "B" : "A";
  return `${token.slice(0, -2)}${last}${token.at(-1)}`;
};
