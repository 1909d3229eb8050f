/**
 * PagerDuty's classic offset pagination (REST-API/09-Pagination.md): `limit` (default 25, at most
 * 100), `offset` (default 0), and in every list response `limit`, `offset`, `more` (true when more
 * records match than were returned) and `total` (null unless the request passed `total=true`).
 * `offset + limit` may not exceed 10000 (400). Pure.
 */

export const DEFAULT_PAGE_LIMIT = 25;
export const MAX_PAGE_LIMIT = 100;
export const MAX_PAGINATION_WINDOW = 10_000;

export interface PageRequest {
  readonly limit: number;
  readonly offset: number;
  readonly total: boolean;
}

export interface Page<T> {
  readonly items: T[];
  readonly limit: number;
  readonly offset: number;
  readonly more: boolean;
  readonly total: number | null;
}

export type PageParse =
  | { readonly ok: true; readonly page: PageRequest }
  | { readonly ok: false; readonly error: string };

function parseNonNegativeInt(raw: string | null): number | undefined | 'invalid' {
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) return 'invalid';
  return Number(raw);
}

/** Reads `limit`, `offset` and `total` from query parameters. A `limit` above 100 is capped, as PagerDuty does. */
export function parsePageRequest(params: URLSearchParams): PageParse {
  const limit = parseNonNegativeInt(params.get('limit'));
  const offset = parseNonNegativeInt(params.get('offset'));
  if (limit === 'invalid') return { ok: false, error: 'limit must be a non-negative integer' };
  if (offset === 'invalid') return { ok: false, error: 'offset must be a non-negative integer' };
  const effectiveLimit = Math.min(
    MAX_PAGE_LIMIT,
    limit === undefined || limit === 0 ? DEFAULT_PAGE_LIMIT : limit,
  );
  const effectiveOffset = offset ?? 0;
  if (effectiveOffset + effectiveLimit > MAX_PAGINATION_WINDOW) {
    return {
      ok: false,
      error: `Offset must be less than or equal to ${MAX_PAGINATION_WINDOW - effectiveLimit} (offset + limit may not exceed ${MAX_PAGINATION_WINDOW})`,
    };
  }
  return {
    ok: true,
    page: { limit: effectiveLimit, offset: effectiveOffset, total: params.get('total') === 'true' },
  };
}

export function paginate<T>(all: readonly T[], req: PageRequest): Page<T> {
  const items = all.slice(req.offset, req.offset + req.limit);
  return {
    items,
    limit: req.limit,
    offset: req.offset,
    more: req.offset + items.length < all.length,
    total: req.total ? all.length : null,
  };
}
