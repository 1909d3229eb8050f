/**
 * SVG → PNG with resvg (a Rust renderer shipped as a prebuilt N-API binary inside its npm
 * packages: nothing is compiled or downloaded at install time, no browser, no Cairo).
 *
 * resvg embeds no font: text needs a font file. DejaVu Sans (or Liberation Sans) is loaded from
 * /usr/share/fonts when present, which is also faster than scanning every system font; without
 * them resvg falls back to the system fonts it can find. The font lookup runs once, on first use.
 */
import { existsSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';

export interface RenderPngOptions {
  /** Font files to load instead of the defaults below (tests, other machines). */
  readonly fontFiles?: readonly string[];
}

/** Tried in order; the first family whose regular face exists is used (with its bold face if any). */
export const FONT_CANDIDATES = [
  {
    family: 'DejaVu Sans',
    files: [
      '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
      '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
    ],
  },
  {
    family: 'Liberation Sans',
    files: [
      '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
      '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
    ],
  },
] as const;

interface FontChoice {
  readonly family: string | null;
  readonly files: string[];
}

let cached: FontChoice | undefined;

/** The font family and files resvg will be given; `family` null means "whatever the system has". */
export function chartFont(): FontChoice {
  if (cached) return cached;
  for (const candidate of FONT_CANDIDATES) {
    const [regular] = candidate.files;
    if (regular && existsSync(regular)) {
      cached = { family: candidate.family, files: candidate.files.filter((f) => existsSync(f)) };
      return cached;
    }
  }
  cached = { family: null, files: [] };
  return cached;
}

/** Rasterises `svg` at its own size (width/height attributes) on a white background. */
export function renderPng(svg: string, opts: RenderPngOptions = {}): Buffer {
  const font = opts.fontFiles ? { family: null, files: [...opts.fontFiles] } : chartFont();
  const resvg = new Resvg(svg, {
    background: '#ffffff',
    fitTo: { mode: 'original' },
    font: {
      loadSystemFonts: font.files.length === 0,
      fontFiles: font.files,
      ...(font.family ? { defaultFontFamily: font.family, sansSerifFamily: font.family } : {}),
    },
    shapeRendering: 2,
    textRendering: 1,
    logLevel: 'off',
  });
  return resvg.render().asPng();
}
