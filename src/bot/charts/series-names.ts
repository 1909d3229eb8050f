/**
 * Legend names for a set of series: only the labels that tell them apart (`app-01`, not
 * `{host="app-01", instance="127.0.1.1:8000", job="qnwis"}`). Pure.
 */

export interface SeriesNames {
  /** The one label the names are values of (`host`), or null when names are `k=v` lists. */
  readonly key: string | null;
  /** One name per series, in order. */
  readonly names: string[];
}

/** Labels people recognise first; tried in this order when several tell the series apart. */
const PREFERRED_KEYS = ['host', 'instance', 'pod', 'service', 'job', 'le', 'quantile'];

export function seriesNames(
  series: readonly { readonly labels: Readonly<Record<string, string>> }[],
): SeriesNames {
  if (series.length === 0) return { key: null, names: [] };
  const keys = [...new Set(series.flatMap((s) => Object.keys(s.labels)))].sort();
  const labelValue = (labels: Readonly<Record<string, string>>, key: string) => labels[key] ?? '';

  if (series.length === 1) {
    const labels = series[0]?.labels ?? {};
    const key = PREFERRED_KEYS.find((k) => labels[k]);
    if (key) return { key, names: [labelValue(labels, key)] };
    return { key: null, names: [labels.__name__ ?? (keys.length ? describe(labels, keys) : 'value')] };
  }

  const varying = keys.filter((k) => new Set(series.map((s) => labelValue(s.labels, k))).size > 1);
  const unique = (k: string) => new Set(series.map((s) => labelValue(s.labels, k))).size === series.length;
  const single = [...PREFERRED_KEYS.filter((k) => varying.includes(k)), ...varying].find(unique);
  if (single) return { key: single, names: series.map((s) => labelValue(s.labels, single) || '(none)') };
  if (varying.length === 0) return { key: null, names: series.map((_, i) => `series ${i + 1}`) };
  return { key: null, names: series.map((s) => describe(s.labels, varying)) };
}

function describe(labels: Readonly<Record<string, string>>, keys: readonly string[]): string {
  return keys
    .filter((k) => labels[k] !== undefined)
    .map((k) => `${k}=${labels[k]}`)
    .join(', ');
}
