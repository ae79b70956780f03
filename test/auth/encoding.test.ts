import { base64url as jose64 } from "jose";
import { describe, expect, it } from "vitest";
import { base64url, tableBase64url } from "../../src/auth/encoding";

describe("base64url without the runtime's toBase64", () => {
  it("encodes every length from 0 to 64 bytes exactly as jose does, unpadded", () => {
    for (let length = 0; length <= 64; length++) {
      const bytes = crypto.getRandomValues(new Uint8Array(length));
      expect(tableBase64url(bytes)).toBe(jose64.encode(bytes));
    }
  });

  it("uses the URL-safe alphabet for every 6-bit value, - and _ included", () => {
    // 0xfb 0xff 0xbf gives 62, 63, 62, 63: the two characters that differ from standard base64.
    const bytes = new Uint8Array([0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0xfb, 0xff, 0xbf]);
    expect(tableBase64url(bytes)).toBe("ABCDEFGH-_-_");
    expect(tableBase64url(bytes)).toBe(jose64.encode(bytes));
  });

  it("encodes a large buffer as jose does", () => {
    const bytes = crypto.getRandomValues(new Uint8Array(20_000));
    expect(tableBase64url(bytes)).toBe(jose64.encode(bytes));
  });

  it("gives the same text as the encoder the runtime uses", () => {
    const bytes = crypto.getRandomValues(new Uint8Array(333));
    expect(tableBase64url(bytes)).toBe(base64url(bytes));
  });
});
