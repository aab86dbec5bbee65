/** Most intervals [start, end] that overlap at one instant (an end and a start at the same time do not overlap). */
export function maxOverlap(intervals: [number, number][]): number {
  const ev = intervals
    .flatMap(
      ([s, e]) =>
        [
          [s, 1],
          [e, -1],
        ] as [number, number][],
    )
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (cur += d));
  return max;
}
