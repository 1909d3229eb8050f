import { describe, expect, it } from 'vitest';
import { escapeMrkdwn, escapeTruncate, plain, truncate } from '../../src/bot/blocks/text.js';
import { formatDuration, relative, silenceUrl, utcTime } from '../../src/bot/blocks/view.js';

const MIN = 60_000;

describe('silenceUrl', () => {
  it('links to a new silence pre-filled the way the Alertmanager UI encodes it', () => {
    expect(silenceUrl('http://127.0.0.1:9093', { alertname: 'X' })).toBe(
      'http://127.0.0.1:9093/#/silences/new?filter=%7Balertname%3D%22X%22%7D',
    );
  });

  it('sorts matchers, quotes values as JSON strings and tolerates a trailing slash', () => {
    const url = silenceUrl('https://am.qnwis.example/alertmanager/', {
      host: 'app-01',
      alertname: 'ServiceDown',
      job: 'say "hi" \\ & bye',
    });
    expect(url?.startsWith('https://am.qnwis.example/alertmanager/#/silences/new?filter=')).toBe(true);
    const filter = decodeURIComponent(new URLSearchParams(url?.split('?')[1]).get('filter') ?? '');
    expect(filter).toBe('{alertname="ServiceDown", host="app-01", job="say \\"hi\\" \\\\ & bye"}');
  });

  it('pre-fills a comment when given', () => {
    const url = silenceUrl('http://am:9093', { alertname: 'X' }, 'QNWIS-42: maintenance');
    expect(url).toBe(
      'http://am:9093/#/silences/new?filter=%7Balertname%3D%22X%22%7D&comment=QNWIS-42%3A%20maintenance',
    );
  });

  it('gives no link rather than a broader silence', () => {
    expect(silenceUrl('http://am:9093', {})).toBeNull();
    expect(silenceUrl('', { alertname: 'X' })).toBeNull();
    expect(silenceUrl('http://am:9093', { alertname: 'X', 'bad name': 'y' })).toBeNull();
    expect(silenceUrl('http://am:9093', { alertname: 'X', 'a=b': 'y' })).toBeNull();
  });
});

describe('formatDuration / relative / utcTime', () => {
  it('formats durations compactly', () => {
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(3 * MIN)).toBe('3 min');
    expect(formatDuration(72 * MIN)).toBe('1 h 12 min');
    expect(formatDuration(120 * MIN)).toBe('2 h');
    expect(formatDuration((2 * 24 + 4) * 60 * MIN + 59 * MIN)).toBe('2 d 4 h');
    expect(formatDuration(-5)).toBe('0 s');
    expect(formatDuration(Number.NaN)).toBe('0 s');
  });

  it('says how long ago', () => {
    const now = new Date('2026-11-27T21:47:00.000Z');
    expect(relative(new Date('2026-11-27T21:42:00.000Z'), now)).toBe('5 min ago');
    expect(relative(new Date('2026-11-27T21:46:30.000Z'), now)).toBe('just now');
    expect(relative(new Date('2026-11-27T21:50:00.000Z'), now)).toBe('in 3 min');
  });

  it('prints UTC times, with the date when not today', () => {
    const now = new Date('2026-11-27T21:47:00.000Z');
    expect(utcTime(new Date('2026-11-27T03:05:00.000Z'), now)).toBe('03:05 UTC');
    expect(utcTime(new Date('2026-11-26T23:10:00.000Z'), now)).toBe('26 Nov 23:10 UTC');
    expect(utcTime(new Date('nope'))).toBe('unknown time');
  });
});

describe('text helpers', () => {
  it('escapes only what mrkdwn treats as control characters', () => {
    expect(escapeMrkdwn('<!channel> & <@U1> *bold*')).toBe('&lt;!channel&gt; &amp; &lt;@U1&gt; *bold*');
  });

  it('truncates without splitting entities or surrogate pairs', () => {
    expect(escapeTruncate('a&b', 4)).toBe('a…');
    expect(escapeTruncate('<<<<', 9)).toBe('&lt;&lt;…');
    expect(truncate('ab😀cd', 4)).toBe('ab…');
    expect(escapeTruncate('ok\u0007', 10)).toBe('ok');
  });

  it('keeps plain_text from forming tokens', () => {
    expect(plain('<!here> & co', 150).text).toBe('＜!here＞ & co');
    expect(plain('', 150).text).toBe('—');
  });
});
