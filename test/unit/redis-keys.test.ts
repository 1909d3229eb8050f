/**
 * The cache key fence: every pattern and key the bot sends must lie inside the inventory's
 * `cache.key_pattern`, checked before anything reaches Redis.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, InvalidArgumentError } from '../../src/errors.js';
import { assertKeyAllowed, assertPatternAllowed, cacheKeyPrefix } from '../../src/ops/adapters/redis.js';

const ALLOWED = 'qnwis:cache:*';

describe('cacheKeyPrefix', () => {
  it('is the literal part of the allowed pattern', () => {
    expect(cacheKeyPrefix(ALLOWED)).toBe('qnwis:cache:');
  });

  it.each(['*', 'qnwis:cache', 'qnwis:*:x:*', 'qnwis:cach?:*', 'qnwis cache:*', ''])(
    'refuses the configured pattern %j as a config error',
    (bad) => {
      expect(() => cacheKeyPrefix(bad)).toThrow(ConfigError);
    },
  );
});

describe('assertPatternAllowed', () => {
  it.each([
    'qnwis:cache:*',
    'qnwis:cache:query:*',
    'qnwis:cache:query:q_2024_*',
    'qnwis:cache:user:?23',
    'qnwis:cache:[ab]*',
    'qnwis:cache:query:q_2024_001234',
  ])('allows %j', (pattern) => {
    expect(() => assertPatternAllowed(pattern, ALLOWED)).not.toThrow();
  });

  it.each([
    ['*', 'matches every key'],
    ['qnwis:*', 'wider than the cache'],
    ['qnwis:cach*', 'glob inside the prefix'],
    ['qnwis:cach?:*', 'glob inside the prefix'],
    ['qnwis:[c]ache:*', 'class inside the prefix'],
    ['Qnwis:cache:*', 'case differs'],
    ['qnwis:session:*', 'another namespace'],
    ['bull:jobs:*', 'the job queue'],
    ['qnwis:cache', 'the prefix without its colon'],
    ['', 'empty'],
    ['qnwis:cache:\n*', 'control character'],
    [`qnwis:cache:${'x'.repeat(600)}`, 'too long'],
  ])('refuses %j (%s)', (pattern) => {
    expect(() => assertPatternAllowed(pattern, ALLOWED)).toThrow(InvalidArgumentError);
  });
});

describe('assertKeyAllowed', () => {
  it.each(['qnwis:cache:query:q_2024_001234', 'qnwis:cache:x', 'qnwis:cache:a b', 'qnwis:cache:ü'])(
    'allows %j',
    (key) => {
      expect(() => assertKeyAllowed(key, ALLOWED)).not.toThrow();
    },
  );

  it.each([
    ['qnwis:cache:*', 'a pattern where a literal key is expected'],
    ['qnwis:cache:query:*', 'a pattern'],
    ['qnwis:cache:q?', 'glob ?'],
    ['qnwis:cache:[a]', 'glob class'],
    ['qnwis:cache:a\\*', 'escape character'],
    ['qnwis:cache:', 'the bare prefix names nothing'],
    ['qnwis:session:abc', 'outside the cache'],
    ['other', 'outside the cache'],
    ['', 'empty'],
    ['qnwis:cache:a\r\nFLUSHALL', 'control characters'],
  ])('refuses %j (%s)', (key) => {
    expect(() => assertKeyAllowed(key, ALLOWED)).toThrow(InvalidArgumentError);
  });

  it('names the allowed space in the message', () => {
    expect(() => assertKeyAllowed('qnwis:session:abc', ALLOWED)).toThrow(
      /outside the cache key space qnwis:cache:\*/,
    );
  });
});
