// A seeded random generator for the bench: the same seed gives the same
// sequence in every run, so two runs draw the same delays and call orders
// and can be compared.

/** mulberry32: small, fast and well mixed for 32-bit seeds; returns numbers in [0, 1). */
export function seeded(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
