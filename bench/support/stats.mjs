/** Small statistics for repeated runs; inputs are plain arrays of numbers. */

/** The median of the finite values (a run whose figure is unknown is NaN and left out); NaN if none. */
export function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** (max - min) / median: how far apart repeated runs landed, relative to the figure reported. */
export function spread(values) {
  const known = values.filter(Number.isFinite);
  return (Math.max(...known) - Math.min(...known)) / median(known);
}
