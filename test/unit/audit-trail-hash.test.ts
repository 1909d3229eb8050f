/** The audit trail's row hashing: the documented bytes, what the hash covers, and storable data. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AUDIT_DATA_MAX,
  type AuditHashContent,
  auditRowHash,
  canonicalJson,
  chainInstant,
  storableData,
} from '../../src/store/audit-trail.js';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

const ROW: AuditHashContent = {
  id: 7,
  at: '2026-11-27T22:00:00.123000Z',
  kind: 'approval',
  actorId: 'U0SRE00001',
  actorName: 'sre',
  actorRole: 'L2',
  requestId: 'R-7K2M9XD4',
  incidentId: 42,
  summary: 'approved restart app-02',
  data: { plan: { hosts: ['app-02'], order: 1 }, approvals: 1 },
};

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order, no whitespace, drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1, { z: null, y: 'é' }], c: true }, u: undefined })).toBe(
      '{"a":{"c":true,"d":[3,1,{"y":"é","z":null}]},"b":1}',
    );
    expect(canonicalJson('a"b\n')).toBe('"a\\"b\\n"');
    expect(canonicalJson(null)).toBe('null');
  });
});

describe('auditRowHash', () => {
  it('is SHA-256 of the previous hash (or "genesis"), a newline and the canonical content', () => {
    const content =
      '{"actor_id":"U0SRE00001","actor_name":"sre","actor_role":"L2","at":"2026-11-27T22:00:00.123000Z",' +
      '"data":{"approvals":1,"plan":{"hosts":["app-02"],"order":1}},"id":7,"incident_id":42,"kind":"approval",' +
      '"request_id":"R-7K2M9XD4","summary":"approved restart app-02"}';
    expect(auditRowHash(null, ROW)).toBe(sha256(`genesis\n${content}`));
    const prev = 'a'.repeat(64);
    expect(auditRowHash(prev, ROW)).toBe(sha256(`${prev}\n${content}`));
    expect(auditRowHash(null, ROW)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('covers every field and the previous hash; key order inside data does not matter', () => {
    const base = auditRowHash(null, ROW);
    const changes: Partial<AuditHashContent>[] = [
      { id: 8 },
      { at: '2026-11-27T22:00:00.123001Z' },
      { kind: 'rejection' },
      { actorId: 'U0MANAGER1' },
      { actorName: null },
      { actorRole: 'L3' },
      { requestId: null },
      { incidentId: null },
      { summary: 'approved restart app-03' },
      { data: { plan: { hosts: ['app-03'], order: 1 }, approvals: 1 } },
    ];
    for (const c of changes) expect(auditRowHash(null, { ...ROW, ...c }), JSON.stringify(c)).not.toBe(base);
    expect(auditRowHash('0'.repeat(64), ROW)).not.toBe(base);
    expect(
      auditRowHash(null, { ...ROW, data: { approvals: 1, plan: { order: 1, hosts: ['app-02'] } } }),
    ).toBe(base);
  });
});

describe('chainInstant', () => {
  it('spells the instant in UTC with six fractional digits', () => {
    expect(chainInstant(new Date('2026-11-27T23:00:00.5+01:00'))).toBe('2026-11-27T22:00:00.500000Z');
  });
  it('refuses an invalid date and years the column text cannot spell the same way', () => {
    expect(() => chainInstant(new Date(Number.NaN))).toThrow(/not a valid date/);
    expect(() => chainInstant(new Date('+010000-01-01T00:00:00Z'))).toThrow(/out of range/);
  });
});

describe('storableData', () => {
  it('is what jsonb gives back: plain JSON, storable strings, bounded', () => {
    const d = storableData({
      at: new Date('2026-11-27T22:00:00Z'),
      n: 10n,
      nan: Number.NaN,
      gone: undefined,
      nul: 'a\u0000b\udfff',
      list: Array.from({ length: 60 }, (_, i) => i),
    });
    expect(d).toEqual({
      at: '2026-11-27T22:00:00.000Z',
      n: '10',
      nan: null,
      nul: 'a\ufffdb\ufffd',
      list: Array.from({ length: 50 }, (_, i) => i),
    });
    // The stored form survives a JSON round trip unchanged, so the hash is stable.
    expect(canonicalJson(JSON.parse(JSON.stringify(d)))).toBe(canonicalJson(d));
    expect(storableData(undefined)).toEqual({});
  });

  it('replaces data over the size cap by a note, and survives what JSON cannot serialise', () => {
    const big = storableData({ a: Array.from({ length: 40 }, () => 'x'.repeat(1000)) });
    expect(big).toMatchObject({ truncated: true });
    expect(JSON.stringify(big).length).toBeLessThan(AUDIT_DATA_MAX);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(storableData(cyclic)).toMatchObject({ unserialisable: expect.stringContaining('circular') });
  });
});
