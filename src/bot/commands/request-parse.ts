/**
 * `/qnwis <command> …` and `/qnwis break-glass "reason" [--for 30m]` → a parsed catalog command or
 * a break-glass declaration, or an error with the command's usage. Pure. Words map to arguments
 * through the catalog's own syntax (src/ops/commands/catalog.ts `CommandSpec.syntax`), and the
 * values are validated by the catalog's schemas, so a typed command and a button resolve to the
 * same arguments and the same plan.
 */

import { InvalidArgumentError } from '../../errors.js';
import {
  CATALOG,
  type CatalogInventory,
  type CommandName,
  isCommandName,
  type ParsedCommand,
  parseCommand,
  parseDurationSec,
  quoteArg,
} from '../../ops/commands/catalog.js';
import { type Token, tokenize } from './tokenize.js';

export const BREAK_GLASS_VERB = 'break-glass';
export const BREAK_GLASS_USAGE = 'break-glass "REASON" [--for 30m]';

export type RequestParse =
  | { readonly kind: 'command'; readonly command: ParsedCommand; readonly private: boolean }
  | {
      readonly kind: 'break-glass';
      readonly reason: string;
      readonly durationMs: number | undefined;
    }
  | { readonly kind: 'error'; readonly verb: string; readonly error: string; readonly usage: string };

/** Whether `text`'s first word names a command request (rather than a read-only verb). */
export function isRequestText(text: string): boolean {
  const t = tokenize(text);
  if (!t.ok) return false;
  const first = t.tokens[0];
  return Boolean(first && !first.quoted && (isCommandName(first.value) || first.value === BREAK_GLASS_VERB));
}

function words(tokens: readonly Token[], name: CommandName): { raw: Record<string, unknown>; priv: boolean } {
  const syntax = CATALOG[name].syntax;
  const raw: Record<string, unknown> = {};
  const positional: string[] = [];
  let priv = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    if (!tok.quoted && tok.value === '--private') {
      priv = true;
      continue;
    }
    if (!tok.quoted && tok.value.startsWith('--')) {
      const flag = syntax.flags[tok.value];
      if (!flag) {
        const known = Object.keys(syntax.flags);
        throw new InvalidArgumentError(
          `unknown option ${quoteArg(tok.value)}${known.length > 0 ? `; options: ${known.join(', ')}` : ''}`,
        );
      }
      if (flag.boolean) {
        raw[flag.key] = true;
        continue;
      }
      const next = tokens[i + 1];
      if (!next || (!next.quoted && next.value.startsWith('--')))
        throw new InvalidArgumentError(`${tok.value} needs a value`);
      if (Object.hasOwn(raw, flag.key)) throw new InvalidArgumentError(`${tok.value} is given twice`);
      raw[flag.key] = next.value;
      i++;
      continue;
    }
    positional.push(tok.value);
  }
  const keys = syntax.positional;
  if (syntax.variadic && keys.length > 0) {
    const head = keys.slice(0, -1);
    head.forEach((k, i) => {
      if (positional[i] !== undefined) raw[k] = positional[i];
    });
    const rest = positional.slice(head.length);
    if (rest.length > 0) raw[keys[keys.length - 1] as string] = rest;
  } else {
    if (positional.length > keys.length)
      throw new InvalidArgumentError(
        `too many words: ${positional
          .slice(keys.length)
          .map((w) => quoteArg(w))
          .join(' ')}`,
      );
    keys.forEach((k, i) => {
      if (positional[i] !== undefined) raw[k] = positional[i];
    });
  }
  return { raw, priv };
}

export function parseRequestText(text: string, inventory: CatalogInventory): RequestParse {
  const t = tokenize(text);
  if (!t.ok) return { kind: 'error', verb: '', error: t.error, usage: '' };
  const [first, ...rest] = t.tokens;
  const verb = first?.value ?? '';
  if (verb === BREAK_GLASS_VERB) return parseBreakGlass(rest);
  if (!isCommandName(verb))
    return { kind: 'error', verb, error: `unknown command ${quoteArg(verb)}`, usage: '' };
  const usage = CATALOG[verb].usage;
  let raw: Record<string, unknown>;
  let priv: boolean;
  try {
    ({ raw, priv } = words(rest, verb));
  } catch (err) {
    if (err instanceof InvalidArgumentError) return { kind: 'error', verb, error: err.message, usage };
    throw err;
  }
  const parsed = parseCommand(verb, raw, inventory);
  if (!parsed.ok) return { kind: 'error', verb, error: parsed.error, usage };
  return { kind: 'command', command: parsed.command, private: priv };
}

function parseBreakGlass(tokens: readonly Token[]): RequestParse {
  const err = (error: string): RequestParse => ({
    kind: 'error',
    verb: BREAK_GLASS_VERB,
    error,
    usage: BREAK_GLASS_USAGE,
  });
  const reason: string[] = [];
  let durationMs: number | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    if (!tok.quoted && tok.value === '--for') {
      const next = tokens[i + 1];
      if (!next) return err('--for needs a duration like 30m');
      try {
        durationMs = parseDurationSec(next.value, 'for', 60, 24 * 3600) * 1000;
      } catch (e) {
        if (e instanceof InvalidArgumentError) return err(e.message);
        throw e;
      }
      i++;
      continue;
    }
    if (!tok.quoted && tok.value.startsWith('--'))
      return err(`unknown option ${quoteArg(tok.value)}; option: --for`);
    reason.push(tok.value);
  }
  const text = reason.join(' ').trim();
  if (text.length === 0) return err('say why: break-glass needs a reason everyone can read');
  return { kind: 'break-glass', reason: text, durationMs };
}
