/** Which DNS zone holds a name. */

/** The zone of `zones` with the longest apex that contains `name` (or is it), if any. */
export function zoneFor<Z extends { readonly zone: string }>(
  name: string,
  zones: readonly Z[],
): Z | undefined {
  let best: Z | undefined;
  for (const z of zones) {
    if (name === z.zone || name.endsWith(`.${z.zone}`)) {
      if (best === undefined || z.zone.length > best.zone.length) best = z;
    }
  }
  return best;
}
