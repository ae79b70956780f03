// A clock that can be moved forward: Date.now drives jose's JWKS cooldown and
// cache age, and the worker's own idea of "now", so minutes pass in
// milliseconds. Timers (AbortSignal.timeout) keep real time.

export function movableClock() {
  const realNow = Date.now;
  let offsetMs = 0;
  Date.now = () => realNow() + offsetMs;
  return {
    advance: (ms) => {
      offsetMs += ms;
    },
    restore: () => {
      Date.now = realNow;
    },
  };
}

/**
 * Makes jose behave as it does on Workers, where one request may not await
 * another request's fetch: each concurrent JWKS miss then fetches on its own.
 */
export function actLikeWorkers() {
  const descriptor = Object.getOwnPropertyDescriptor(navigator, "userAgent");
  Object.defineProperty(navigator, "userAgent", { value: "Cloudflare-Workers", configurable: true });
  return {
    restore: () => {
      if (descriptor) Object.defineProperty(navigator, "userAgent", descriptor);
      else delete navigator.userAgent;
    },
  };
}
