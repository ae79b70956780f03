/** Small statistics for repeated runs; inputs are plain arrays of numbers. */

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** (max - min) / median: how far apart repeated runs landed, relative to the figure reported. */
export function spread(values) {
  return (Math.max(...values) - Math.min(...values)) / median(values);
}
