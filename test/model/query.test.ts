// The search language: parse trees, syntax errors with positions, and the reference semantics on known messages.
import { parseQuery, tokenize, MAX_QUERY_DEPTH } from '../../src/model/query';
import { matchesQuery } from '../../src/model/query-eval';
import type { GroupState } from '../../src/model/triage';
import { makeMessage } from '../helpers/messages';

describe('parseQuery', () => {
  it('treats empty and blank text as match-all', () => {
    expect(parseQuery('')).toEqual({ kind: 'all' });
    expect(parseQuery('   ')).toEqual({ kind: 'all' });
    expect(parseQuery(undefined)).toEqual({ kind: 'all' });
  });

  it('parses words, fields, phrases and ranges', () => {
    expect(parseQuery('Timeout')).toEqual({ kind: 'text', tokens: ['timeout'], prefix: true });
    expect(parseQuery('"connection refused"')).toEqual({ kind: 'text', tokens: ['connection', 'refused'], prefix: false });
    expect(parseQuery('type:TypeError')).toEqual({ kind: 'term', field: 'type', value: 'TypeError', prefix: false });
    expect(parseQuery('type:Type*')).toEqual({ kind: 'term', field: 'type', value: 'Type', prefix: true });
    expect(parseQuery('message:"order 42"')).toEqual({ kind: 'text', field: 'title', tokens: ['order', '42'], prefix: false });
    expect(parseQuery('statusCode:[500 TO 599]')).toEqual({
      kind: 'range',
      field: 'statusCode',
      lo: '500',
      hi: '599',
      loInclusive: true,
      hiInclusive: true,
    });
    expect(parseQuery('statusCode:{* TO 500]')).toEqual({
      kind: 'range',
      field: 'statusCode',
      lo: undefined,
      hi: '500',
      loInclusive: false,
      hiInclusive: true,
    });
    expect(parseQuery('dateTime:[2026-01-01 TO *]')).toMatchObject({
      kind: 'range',
      field: 'dateTime',
      lo: '2026-01-01T00:00:00.000Z',
      hi: undefined,
    });
  });

  it('gives AND precedence over OR, and reads adjacency as AND', () => {
    expect(parseQuery('a b OR c')).toEqual({
      kind: 'or',
      children: [
        {
          kind: 'and',
          children: [
            { kind: 'text', tokens: ['a'], prefix: true },
            { kind: 'text', tokens: ['b'], prefix: true },
          ],
        },
        { kind: 'text', tokens: ['c'], prefix: true },
      ],
    });
    expect(parseQuery('NOT a AND (b OR -c)')).toEqual({
      kind: 'and',
      children: [
        { kind: 'not', child: { kind: 'text', tokens: ['a'], prefix: true } },
        {
          kind: 'or',
          children: [
            { kind: 'text', tokens: ['b'], prefix: true },
            { kind: 'not', child: { kind: 'text', tokens: ['c'], prefix: true } },
          ],
        },
      ],
    });
  });

  it.each([
    ['(timeout', 'Missing ")"', 9],
    ['timeout)', 'Unexpected ")"', 8],
    ['"open', 'Unclosed quote', 1],
    ['nofield:x', 'Unknown field "nofield"', 1],
    ['statusCode:abc', 'is not a status code', 1],
    ['type:[a TO b]', 'does not take a range', 1],
    ['a AND', 'Expected a term after AND', 3],
    ['OR a', 'Unexpected OR', 1],
    ['statusCode:[500 599]', 'A range reads [low TO high]', 12],
    ['a is:fixed', '"is:" takes open, resolved, ignored, regressed; not "fixed"', 3],
    ['status:closed', '"closed" is not a status code', 1],
  ])('rejects %j with ERR_ELMAH_QUERY and a position', (q, text, position) => {
    let caught: unknown;
    try {
      parseQuery(q);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'ERR_ELMAH_QUERY', status: 400, details: { position: position - 1 } });
    expect((caught as Error).message).toContain(text);
    expect((caught as Error).message).toContain(`position ${position}`);
  });

  it("reads status: with a state name and is: as terms on the state of the message's group; status: with a number stays statusCode", () => {
    expect(parseQuery('status:Resolved')).toEqual({ kind: 'state', value: 'resolved' });
    expect(parseQuery('is:regressed -is:ignored')).toEqual({
      kind: 'and',
      children: [
        { kind: 'state', value: 'regressed' },
        { kind: 'not', child: { kind: 'state', value: 'ignored' } },
      ],
    });
    expect(parseQuery('status:500')).toEqual({ kind: 'term', field: 'statusCode', value: '500', prefix: false });
  });

  it('limits length, terms and depth', () => {
    expect(() => parseQuery('x'.repeat(100_000))).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_QUERY' }));
    expect(() => parseQuery(Array.from({ length: 70 }, (_, i) => `w${i}`).join(' '))).toThrow(/More than 64 terms/);
    expect(() => parseQuery('('.repeat(MAX_QUERY_DEPTH + 5) + 'a' + ')'.repeat(MAX_QUERY_DEPTH + 5))).toThrow(/Nested deeper/);
  });
});

describe('tokenize', () => {
  it('splits on non-alphanumerics, lowercases and removes diacritics', () => {
    expect(tokenize("Café ÜBER a_b x.y O'Brien 日本")).toEqual(['cafe', 'uber', 'a', 'b', 'x', 'y', 'o', 'brien', '日本']);
  });
});

describe('matchesQuery (reference semantics)', () => {
  const timeout = makeMessage({ title: 'Request timeout after 30s', type: 'TimeoutError', statusCode: 504, method: 'GET', user: 'alice' });
  const refused = makeMessage({ title: 'connect ECONNREFUSED: connection refused', statusCode: 500, method: 'POST' });
  const notFound = makeMessage({ title: 'Not found', type: 'NotFoundError', statusCode: 404 });
  const all = [timeout, refused, notFound];
  const ids = (q: string): string[] => all.filter((m) => matchesQuery(parseQuery(q), m)).map((m) => m.title);

  it('matches bare words as prefixes of tokens, phrases exactly', () => {
    expect(ids('time')).toEqual([timeout.title]);
    expect(ids('"connection refused"')).toEqual([refused.title]);
    expect(ids('"refused connection"')).toEqual([]);
    expect(ids('"connec"')).toEqual([]);
  });

  it('compares keywords whole and case-insensitively, with * for prefixes', () => {
    expect(ids('type:timeouterror')).toEqual([timeout.title]);
    expect(ids('type:Timeout')).toEqual([]);
    expect(ids('type:Not*')).toEqual([notFound.title]);
    expect(ids('user:ALICE')).toEqual([timeout.title]);
  });

  it('applies ranges and boolean operators', () => {
    expect(ids('statusCode:[500 TO 599]')).toEqual([timeout.title, refused.title]);
    expect(ids('statusCode:{500 TO 599]')).toEqual([timeout.title]);
    expect(ids('statusCode:[500 TO 599] AND NOT method:GET')).toEqual([refused.title]);
    expect(ids('timeout OR statusCode:404')).toEqual([timeout.title, notFound.title]);
  });

  it('reads group states through the lookup it is given, and a group it cannot tell as plain open', () => {
    const states = new Map<string, GroupState>([
      [timeout.id, { status: 'resolved', regressed: false }],
      [refused.id, { status: 'open', regressed: true }],
    ]);
    const byState = (q: string): string[] => all.filter((m) => matchesQuery(parseQuery(q), m, (x) => states.get(x.id))).map((m) => m.title);
    expect(byState('status:resolved')).toEqual([timeout.title]);
    expect(byState('is:open')).toEqual([refused.title, notFound.title]);
    expect(byState('is:regressed OR is:ignored')).toEqual([refused.title]);
    expect(ids('is:open')).toEqual(all.map((m) => m.title));
  });
});
