/**
 * Text and JSON from people made storable in PostgreSQL: `text` and `jsonb` cannot hold NUL, and
 * `jsonb` refuses unpaired surrogates, so both become U+FFFD; everything is bounded. Pure.
 */

/** The longest string kept inside stored JSON. */
export const STORABLE_JSON_STRING_MAX = 1000;

/** In `u` mode this matches only unpaired surrogate halves (a pair is one code point). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;

/**
 * Cuts to `max` code units without leaving half a surrogate pair, and replaces NUL and unpaired
 * surrogates (which jsonb refuses) with U+FFFD.
 */
export function storableText(text: string, max: number): string {
  let out = text.replaceAll('\0', '\ufffd').replace(LONE_SURROGATE, '\ufffd');
  if (out.length > max) {
    out = out.slice(0, max);
    const last = out.charCodeAt(out.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) out = out.slice(0, -1);
  }
  return out;
}

/**
 * A JSON value with every string made storable in jsonb (no NUL, no lone surrogate, capped), at
 * most 50 entries per object or array and 5 levels deep.
 */
export function storableJson(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return storableText(value, STORABLE_JSON_STRING_MAX);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (depth > 4) return null;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => storableJson(v, depth + 1));
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .slice(0, 50)
        .map(([k, v]) => [storableText(k, 100), storableJson(v, depth + 1)]),
    );
  }
  return null;
}
