import { describe, expect, it } from "vitest";
import { randomBase64url, randomBytes } from "../../src/selfhosted/random";

describe("pooled random bytes", () => {
  it("never hands out the same bytes twice, across many pool refills", () => {
    // 16-byte draws, as a jti: 2,000 of them span several 4 KiB pools.
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) seen.add(randomBase64url(16));
    expect(seen.size).toBe(2_000);
  });

  it("gives exactly the size asked, also when a draw does not fit what is left of the pool", () => {
    const sizes = [12, 16, 4000, 16, 100, 4096, 1];
    for (const size of sizes) expect(randomBytes(size).byteLength).toBe(size);
  });

  it("returns slices that do not overlap: writing one leaves the next unchanged", () => {
    const first = randomBytes(16);
    const second = randomBytes(16);
    const before = second.slice();
    first.fill(0);
    expect(second).toEqual(before);
  });

  it("encodes 16 bytes as 22 base64url characters", () => {
    expect(randomBase64url(16)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});
