/**
 * The stand-in's CLI configuration: one zod schema over flags and environment, defaults, flag
 * precedence, and clear errors (the webhook secret is required and never echoed).
 */
import { describe, expect, it } from 'vitest';
import { optionsFromConfig, parseCliConfig } from '../../src/dev/pagerduty/main.js';
import { ConfigError } from '../../src/errors.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('parseCliConfig', () => {
  it('applies the documented defaults', () => {
    const cfg = parseCliConfig(['--webhook-secret', 'whsec-lab'], {});
    expect(optionsFromConfig(cfg)).toEqual({
      http: { host: '127.0.0.1', port: 3200 },
      https: { host: '127.0.0.1', port: 3243, stateDir: '.lab/pagerduty-tls' },
      webhook: {
        url: 'http://127.0.0.1:3000/webhooks/pagerduty',
        secrets: ['whsec-lab'],
        timeoutMs: 5000,
        retryBaseDelayMs: 1000,
        maxAttempts: 5,
      },
      apiTokens: [],
      restRateLimitPerMinute: 960,
      eventsRateLimitPerMinute: 120,
    });
  });

  it('reads the environment; flags win; repeatable flags build lists', () => {
    const cfg = parseCliConfig(
      ['--listen', '127.0.0.1:0', '--webhook-secret', 'new', '--webhook-secret', 'old', '--api-token', 't2'],
      {
        PAGERDUTY_LOCAL_LISTEN: '127.0.0.1:9',
        PAGERDUTY_LOCAL_HTTPS_LISTEN: 'off',
        PAGERDUTY_LOCAL_WEBHOOK_SECRET: 'env-secret',
        PAGERDUTY_LOCAL_API_TOKENS: 't1',
        PAGERDUTY_LOCAL_ROUTING_KEYS: 'abcdefghijklmnopqrstuvwxyz012345, ABCDEFGHIJKLMNOPQRSTUVWXYZ012345',
        PAGERDUTY_LOCAL_REST_RATE_LIMIT: '5',
      },
    );
    const opts = optionsFromConfig(cfg);
    expect(opts.http).toEqual({ host: '127.0.0.1', port: 0 });
    expect(opts.https).toBe(false);
    expect(opts.webhook.secrets).toEqual(['new', 'old']);
    expect(opts.apiTokens).toEqual(['t2']);
    expect(opts.routingKeys).toEqual([
      'abcdefghijklmnopqrstuvwxyz012345',
      'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345',
    ]);
    expect(opts.restRateLimitPerMinute).toBe(5);
  });

  it('requires the webhook secret, with a clear message', () => {
    const err = configError(() => parseCliConfig([], {}));
    expect(err.issues).toEqual([
      {
        path: 'PAGERDUTY_LOCAL_WEBHOOK_SECRET',
        message: 'is required: the secret the bot verifies X-PagerDuty-Signature with',
      },
    ]);
    expect(
      configError(() => parseCliConfig([], { PAGERDUTY_LOCAL_WEBHOOK_SECRET: ' , ' })).issues[0]?.path,
    ).toBe('PAGERDUTY_LOCAL_WEBHOOK_SECRET');
  });

  it('refuses bad listen addresses, routing keys, more than two secrets and unknown flags, without echoing secrets', () => {
    const err = configError(() =>
      parseCliConfig(
        ['--listen', 'localhost', '--routing-key', 'short', '--webhook-secret', 'a,b,c-very-secret'],
        {},
      ),
    );
    expect(err.issues.map((i) => i.path).sort()).toEqual(
      ['PAGERDUTY_LOCAL_LISTEN', 'PAGERDUTY_LOCAL_ROUTING_KEYS.0', 'PAGERDUTY_LOCAL_WEBHOOK_SECRET'].sort(),
    );
    expect(err.message).not.toContain('c-very-secret');
    expect(configError(() => parseCliConfig(['--nope'], {})).issues[0]?.path).toBe('argv');
  });
});
