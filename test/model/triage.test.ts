// Triage rules: what a change of state is accepted as, what one more occurrence does to each state, and the
// semver order that "resolved in a version" relies on.
import {
  MAX_HISTORY,
  applyChange,
  compareSemver,
  normalizeGroupChange,
  occurrenceEffect,
  parseStatuses,
  replayOccurrences,
  type GroupState,
  type Occurrence,
  type OccurrenceEffect,
} from '../../src/model/triage';
import { refusal } from '../helpers/refusal';

const now = new Date('2026-03-01T12:00:00.000Z');
const resolvedAt = '2026-03-01T12:00:00.000Z';

function problems(input: unknown): { code: string; fields: string[] } {
  return refusal(() => normalizeGroupChange(input, now));
}

describe('occurrenceEffect', () => {
  const resolved: GroupState = { status: 'resolved', changedAt: resolvedAt, regressed: false };
  const inSemver: GroupState = { ...resolved, resolvedIn: '1.5.0', knownVersions: ['1.4.2'] };
  const inHash: GroupState = { ...resolved, resolvedIn: 'c0ffee', knownVersions: ['abc123', 'def456'] };
  const ignoredUntil: GroupState = { status: 'ignored', ignoreUntil: '2026-03-02T00:00:00.000Z', regressed: false };
  const ignoredCount: GroupState = { status: 'ignored', ignoreUntilCount: 10, regressed: false };
  const ignoredForever: GroupState = { status: 'ignored', regressed: false };
  const open: GroupState = { status: 'open', regressed: false };
  const after = '2026-03-01T13:00:00.000Z';
  const table: [string, GroupState, Occurrence, OccurrenceEffect][] = [
    ['open: nothing', open, { dateTime: after, count: 5 }, 'none'],
    ['resolved: any later occurrence regresses', resolved, { dateTime: after, version: '0.0.1', count: 5 }, 'regressed'],
    ['resolved: one from before the resolution does not', resolved, { dateTime: '2026-03-01T11:59:59.999Z', count: 5 }, 'none'],
    ['resolved in 1.5.0: 1.4.9 is older', inSemver, { dateTime: after, version: '1.4.9', count: 5 }, 'none'],
    ['resolved in 1.5.0: a pre-release of it is older', inSemver, { dateTime: after, version: '1.5.0-rc.1', count: 5 }, 'none'],
    ['resolved in 1.5.0: 1.5.0 regresses', inSemver, { dateTime: after, version: '1.5.0', count: 5 }, 'regressed'],
    ['resolved in 1.5.0: v1.10.0 regresses', inSemver, { dateTime: after, version: 'v1.10.0', count: 5 }, 'regressed'],
    ['resolved in 1.5.0: no version counts as new code', inSemver, { dateTime: after, count: 5 }, 'regressed'],
    ['resolved in a hash: a version seen before does not', inHash, { dateTime: after, version: 'def456', count: 5 }, 'none'],
    ['resolved in a hash: an unseen version regresses', inHash, { dateTime: after, version: '999aaa', count: 5 }, 'regressed'],
    ['resolved in a hash: the fix itself regresses', inHash, { dateTime: after, version: 'c0ffee', count: 5 }, 'regressed'],
    ['ignored until a time: before it, nothing', ignoredUntil, { dateTime: after, count: 5 }, 'none'],
    ['ignored until a time: at it, the ignore ends', ignoredUntil, { dateTime: '2026-03-02T00:00:00.000Z', count: 5 }, 'unignored'],
    ['ignored until a count: below it, nothing', ignoredCount, { dateTime: after, count: 9 }, 'none'],
    ['ignored until a count: reaching it ends the ignore', ignoredCount, { dateTime: after, count: 10 }, 'unignored'],
    ['ignored for ever: nothing', ignoredForever, { dateTime: '2099-01-01T00:00:00.000Z', count: 1e6 }, 'none'],
  ];
  it.each(table)('%s', (_name, state, occurrence, effect) => {
    expect(occurrenceEffect(state, occurrence)).toBe(effect);
  });

  it('reopens once per write: the first regressing occurrence is named, later ones find the group open', () => {
    const { state, regressedAt } = replayOccurrences(inSemver, [
      { dateTime: after, version: '1.4.2', count: 6 },
      { dateTime: after, version: '1.6.0', count: 7 },
      { dateTime: after, version: '1.7.0', count: 8 },
    ]);
    expect(regressedAt).toBe(1);
    expect(state).toEqual({
      status: 'open',
      resolvedIn: '1.5.0',
      changedAt: resolvedAt,
      changedBy: undefined,
      regressed: true,
      regressedAt: after,
      regressedIn: '1.6.0',
      history: [{ event: 'regressed', at: after, version: '1.6.0' }],
    });
  });

  it('ends an ignore without marking a regression, and leaves the state alone when nothing happens', () => {
    const { state, regressedAt } = replayOccurrences(ignoredCount, [{ dateTime: after, count: 10 }]);
    expect(regressedAt).toBeUndefined();
    expect(state).toMatchObject({ status: 'open', regressed: false, ignoreUntilCount: undefined });
    expect(replayOccurrences(open, [{ dateTime: after, count: 2 }]).state).toBe(open);
  });
});

describe('applyChange', () => {
  it('records who and when, keeps the versions seen for a resolution in a version, and counts an ignore from now', () => {
    expect(applyChange({ status: 'resolved', inVersion: '2.0.0' }, 'k1', resolvedAt, 7, ['1.0.0', '2.0.0'])).toEqual({
      status: 'resolved',
      resolvedIn: '2.0.0',
      knownVersions: ['1.0.0'],
      changedBy: 'k1',
      changedAt: resolvedAt,
      regressed: false,
      history: [{ event: 'resolved', at: resolvedAt, by: 'k1', version: '2.0.0' }],
    });
    expect(applyChange({ status: 'ignored', occurrences: 5 }, 'k1', resolvedAt, 7, [])).toMatchObject({ ignoreUntilCount: 12 });
    expect(applyChange({ status: 'open' }, 'k2', resolvedAt, 7, [])).toEqual({
      status: 'open',
      changedBy: 'k2',
      changedAt: resolvedAt,
      regressed: false,
      history: [{ event: 'reopened', at: resolvedAt, by: 'k2' }],
    });
  });

  it('keeps a history of changes and of what occurrences did, oldest first, bounded', () => {
    const t = (m: number) => new Date(Date.parse(resolvedAt) + m * 60_000).toISOString();
    let s = applyChange({ status: 'resolved', inVersion: '1.1.0' }, 'k1', t(0), 3, ['1.0.0']);
    s = replayOccurrences(s, [{ dateTime: t(1), version: '1.2.0', count: 4 }]).state;
    s = applyChange({ status: 'ignored', occurrences: 2 }, 'k2', t(2), 4, [], s);
    s = replayOccurrences(s, [{ dateTime: t(3), count: 6 }]).state;
    expect(s.history).toEqual([
      { event: 'resolved', at: t(0), by: 'k1', version: '1.1.0' },
      { event: 'regressed', at: t(1), version: '1.2.0' },
      { event: 'ignored', at: t(2), by: 'k2', untilCount: 6 },
      { event: 'unignored', at: t(3) },
    ]);
    for (let i = 0; i < MAX_HISTORY + 5; i++) s = applyChange({ status: i % 2 ? 'open' : 'resolved' }, `k${i}`, t(10 + i), 6, [], s);
    expect(s.history).toHaveLength(MAX_HISTORY);
    expect(s.history![MAX_HISTORY - 1]).toEqual({ event: 'resolved', at: t(10 + MAX_HISTORY + 4), by: `k${MAX_HISTORY + 4}` });
  });
});

describe('normalizeGroupChange', () => {
  it('accepts each status with its own options and drops repeated fingerprints', () => {
    expect(normalizeGroupChange({ fingerprints: ['a', 'a', 'b'], status: 'resolved', inVersion: ' 1.2.3 ' }, now)).toEqual({
      fingerprints: ['a', 'b'],
      change: { status: 'resolved', inVersion: '1.2.3' },
    });
    expect(
      normalizeGroupChange({ fingerprints: ['a'], status: 'ignored', until: '2026-03-02T00:00:00+01:00', occurrences: 3 }, now).change,
    ).toEqual({
      status: 'ignored',
      until: '2026-03-01T23:00:00.000Z',
      occurrences: 3,
    });
    expect(normalizeGroupChange({ fingerprints: ['a'], status: 'open' }, now).change).toEqual({ status: 'open' });
  });

  it('refuses with ERR_ELMAH_INVALID_STATE, naming every field at fault', () => {
    expect(problems(null)).toEqual({ code: 'ERR_ELMAH_INVALID_STATE', fields: [''] });
    expect(problems({ status: 'fixed' })).toEqual({ code: 'ERR_ELMAH_INVALID_STATE', fields: ['fingerprints', 'status'] });
    expect(problems({ fingerprints: ['a'], status: 'open', inVersion: '1.0.0' }).fields).toEqual(['inVersion']);
    expect(problems({ fingerprints: ['a'], status: 'ignored', until: '2026-03-01T11:00:00Z', occurrences: 0 }).fields).toEqual([
      'until',
      'occurrences',
    ]);
    expect(problems({ fingerprints: ['a'], status: 'resolved', until: '2027-01-01T00:00:00Z', extra: 1 }).fields).toEqual([
      'extra',
      'until',
    ]);
    expect(problems({ fingerprints: Array.from({ length: 501 }, (_, i) => `f${i}`), status: 'open' }).fields).toEqual(['fingerprints']);
  });
});

describe('compareSemver and parseStatuses', () => {
  it('orders versions as semver.org does and leaves other text unordered', () => {
    expect(compareSemver('1.2.3', '1.10.0')).toBeLessThan(0);
    expect(compareSemver('1.0.0-alpha', '1.0.0-alpha.1')).toBeLessThan(0);
    expect(compareSemver('1.0.0-alpha.beta', '1.0.0-beta')).toBeLessThan(0);
    expect(compareSemver('1.0.0-2', '1.0.0-11')).toBeLessThan(0);
    expect(compareSemver('1.0.0-rc.1', '1.0.0')).toBeLessThan(0);
    expect(compareSemver('v2.0.0+build.5', '2.0.0')).toBe(0);
    expect(compareSemver('abc123', '1.0.0')).toBeUndefined();
  });

  it('reads states from a list or comma-separated text and refuses an unknown one', () => {
    expect(parseStatuses('ignored,open')).toEqual(['open', 'ignored']);
    expect(parseStatuses(undefined)).toBeUndefined();
    expect(() => parseStatuses(['closed'])).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_QUERY' }));
  });
});
