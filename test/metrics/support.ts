/** A stand-in for the Analytics Engine binding that keeps a copy of each data point it is given. */
export function stubDataset() {
  const points: AnalyticsEngineDataPoint[] = [];
  const dataset: AnalyticsEngineDataset = { writeDataPoint: (point) => void points.push(structuredClone(point ?? {})) };
  return { dataset, points };
}

/**
 * A clock the test moves by hand, injected as `GateDeps.clock`: peers
 * advance it while they "work", so durations are exact, not measured.
 */
export function manualClock(start = 1_750_000_000_000) {
  let now = start;
  return {
    clock: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}
