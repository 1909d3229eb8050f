/**
 * Splits `/qnwis` text into words the way a person expects from a shell, without ever being one:
 * whitespace separates words; "…" and '…' (and the typographic “…” ‘…’ that phone keyboards and
 * macOS substitute) group words; inside "…" a backslash escapes `"` and `\`. Nothing is expanded,
 * nothing is executed: the result is plain data for the parser. Pure.
 *
 * Slack sends the text with `&`, `<` and `>` entity-encoded (`&amp;`, `&lt;`, `&gt;`): those three
 * are decoded first, once, so `--grep "a<b"` searches for `a<b`.
 */

export interface Token {
  /** The word with quotes removed. */
  readonly value: string;
  /** True when any part of the word was quoted: `"--lines"` is then data, never a flag. */
  readonly quoted: boolean;
}

export type TokenizeResult =
  | { readonly ok: true; readonly tokens: readonly Token[] }
  | { readonly ok: false; readonly error: string };

/** Opening quote → its closing quote. */
const QUOTES: Readonly<Record<string, string>> = {
  '"': '"',
  "'": "'",
  '\u201c': '\u201d', // “ ”
  '\u2018': '\u2019', // ‘ ’
};

/** Decodes the three entities Slack encodes in slash-command text, in one pass. */
export function decodeSlackEntities(text: string): string {
  return text.replace(/&(amp|lt|gt);/g, (_, name: string) =>
    name === 'amp' ? '&' : name === 'lt' ? '<' : '>',
  );
}

function isSpace(c: string): boolean {
  // ASCII whitespace, NBSP and the other Unicode spaces Slack clients may send.
  return /\s/u.test(c);
}

export function tokenize(raw: string): TokenizeResult {
  const text = decodeSlackEntities(raw);
  const tokens: Token[] = [];
  let current = '';
  let inWord = false;
  let quoted = false;
  const chars = Array.from(text); // by code point: a quote is never half a surrogate pair
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    const close = QUOTES[c];
    if (close !== undefined) {
      inWord = true;
      quoted = true;
      let j = i + 1;
      let closed = false;
      for (; j < chars.length; j++) {
        const d = chars[j] as string;
        if (d === close) {
          closed = true;
          break;
        }
        if (c === '"' && d === '\\' && (chars[j + 1] === '"' || chars[j + 1] === '\\')) {
          current += chars[j + 1];
          j++;
          continue;
        }
        current += d;
      }
      if (!closed) return { ok: false, error: `the quote ${c} is never closed` };
      i = j;
      continue;
    }
    if (isSpace(c)) {
      if (inWord) tokens.push({ value: current, quoted });
      current = '';
      inWord = false;
      quoted = false;
      continue;
    }
    current += c;
    inWord = true;
  }
  if (inWord) tokens.push({ value: current, quoted });
  return { ok: true, tokens };
}
