// Message validation, ids and fingerprints.
import { computeFingerprint } from '../../src/model/fingerprint';
import { messageIdTime, newMessageId } from '../../src/model/id';
import { createKey, hashSecret, KEY_PATTERN, parseDuration, parseKey } from '../../src/model/keys';
import { MAX_FUTURE_SKEW_MS, MAX_MESSAGE_BYTES, normalizeMessage } from '../../src/model/message';
import { parsePermissions } from '../../src/model/permissions';

describe('normalizeMessage', () => {
  it('fills id, dateTime, severity and fingerprint', () => {
    const m = normalizeMessage({ title: 'x' }, 'default', new Date('2026-01-01T00:00:00.000Z'));
    expect(m).toMatchObject({
      log: 'default',
      title: 'x',
      type: 'Error',
      severity: 'Error',
      dateTime: '2026-01-01T00:00:00.000Z',
      form: [],
      data: [],
    });
    expect(m.id).toMatch(/^[0-9A-Z]{26}$/);
    expect(m.fingerprint).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('accepts elmah.io names and shapes: severity case, numeric status strings, key/value lists', () => {
    const m = normalizeMessage(
      {
        title: 't',
        severity: 'warning',
        statusCode: '404',
        data: [{ key: 'n', value: 3 }],
        dateTime: '2026-02-03T04:05:06Z',
        breadcrumbs: [],
      },
      'a',
    );
    expect(m).toMatchObject({
      severity: 'Warning',
      statusCode: 404,
      data: [{ key: 'n', value: '3' }],
      dateTime: '2026-02-03T04:05:06.000Z',
    });
  });

  it('clamps a time more than the allowed skew in the future to the time of receipt, keeping the sent time as data', () => {
    const now = new Date('2026-01-01T00:00:00.000Z');
    const future = normalizeMessage({ title: 'x', dateTime: '9999-12-31T23:59:59Z', data: [{ key: 'a', value: 'b' }] }, 'default', now);
    expect(future.dateTime).toBe(now.toISOString());
    expect(future.data).toEqual([
      { key: 'a', value: 'b' },
      { key: 'elmah.sentDateTime', value: '9999-12-31T23:59:59.000Z' },
    ]);
    // Within the skew, and in the past, the sent time stands.
    const skewed = new Date(now.getTime() + MAX_FUTURE_SKEW_MS).toISOString();
    expect(normalizeMessage({ title: 'x', dateTime: skewed }, 'default', now)).toMatchObject({ dateTime: skewed, data: [] });
    expect(normalizeMessage({ title: 'x', dateTime: '2020-05-05T00:00:00Z' }, 'default', now).dateTime).toBe('2020-05-05T00:00:00.000Z');
  });

  it('lists every field error at once', () => {
    let err: { code?: string; details?: unknown } = {};
    try {
      normalizeMessage({ title: 5, statusCode: 'x', severity: 'loud', form: {}, id: 'a b', dateTime: 'soon' }, 'bad log!');
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.code).toBe('ERR_ELMAH_INVALID_MESSAGE');
    expect((err.details as { field: string }[]).map((d) => d.field).sort()).toEqual([
      'dateTime',
      'form',
      'id',
      'log',
      'severity',
      'statusCode',
      'title',
    ]);
  });

  it("accepts elmah.io's breadcrumbs, source context and a JSON body, checked and normalized", () => {
    const m = normalizeMessage(
      {
        title: 't',
        breadcrumbs: [
          { dateTime: '2026-01-01T00:00:00Z', severity: 'warning', action: 'Navigation', message: 'to /cart' },
          { dateTime: '2026-01-01T00:00:01Z', action: 'Request', message: 'GET /x', data: [{ key: 'status', value: 200 }] },
        ],
        sourceContext: [{ file: '/app/a.ts', line: 3, startLine: 1, lines: ['a', 'b', 'c'] }],
        jsonBody: '{"quantity":2}',
      },
      'default',
    );
    expect(m.breadcrumbs).toEqual([
      { dateTime: '2026-01-01T00:00:00.000Z', severity: 'Warning', action: 'Navigation', message: 'to /cart' },
      {
        dateTime: '2026-01-01T00:00:01.000Z',
        severity: 'Information',
        action: 'Request',
        message: 'GET /x',
        data: [{ key: 'status', value: '200' }],
      },
    ]);
    expect(m.sourceContext).toEqual([{ file: '/app/a.ts', line: 3, startLine: 1, lines: ['a', 'b', 'c'] }]);
    expect(m.jsonBody).toBe('{"quantity":2}');
    expect(normalizeMessage({ title: 't' }, 'default')).not.toHaveProperty('breadcrumbs');
    // elmah.io's browser client sends { severity, action, message }: the time of receipt stands in.
    const now = new Date('2026-02-02T00:00:00.000Z');
    expect(normalizeMessage({ title: 't', breadcrumbs: [{ action: 'Log', message: 'm' }] }, 'default', now).breadcrumbs).toEqual([
      { dateTime: '2026-02-02T00:00:00.000Z', severity: 'Information', action: 'Log', message: 'm' },
    ]);
  });

  it('refuses malformed or oversized breadcrumbs, source context and JSON bodies, naming each field', () => {
    const fields = (input: Record<string, unknown>): string[] => {
      try {
        normalizeMessage({ title: 't', ...input }, 'default');
        return [];
      } catch (e) {
        return (e as { details: { field: string }[] }).details.map((d) => d.field);
      }
    };
    expect(fields({ breadcrumbs: 'x' })).toEqual(['breadcrumbs']);
    expect(fields({ breadcrumbs: Array.from({ length: 101 }, () => ({ dateTime: '2026-01-01T00:00:00Z' })) })).toEqual(['breadcrumbs']);
    expect(fields({ breadcrumbs: [{ dateTime: 7 }] })).toEqual(['breadcrumbs[0].dateTime']);
    expect(fields({ breadcrumbs: [{ dateTime: 'soon', severity: 'loud', message: 'x'.repeat(5000), data: 'no' }] })).toEqual([
      'breadcrumbs[0].dateTime',
      'breadcrumbs[0].severity',
      'breadcrumbs[0].message',
      'breadcrumbs[0].data',
    ]);
    expect(fields({ sourceContext: [{ file: 'a.ts', line: 0, startLine: 1, lines: [1] }] })).toEqual([
      'sourceContext[0].line',
      'sourceContext[0].lines',
    ]);
    expect(fields({ jsonBody: '{"a":' })).toEqual(['jsonBody']);
    expect(fields({ jsonBody: { a: 1 } })).toEqual(['jsonBody']);
    expect(fields({ jsonBody: `"${'x'.repeat(40_000)}"` })).toEqual(['jsonBody']);
    // Nesting: deeper than 64 levels is refused with the field named; brackets inside strings do not count.
    expect(fields({ jsonBody: '['.repeat(65) + ']'.repeat(65) })).toEqual(['jsonBody']);
    expect(fields({ jsonBody: '['.repeat(3000) + ']'.repeat(3000) })).toEqual(['jsonBody']);
    expect(normalizeMessage({ title: 't', jsonBody: '['.repeat(64) + ']'.repeat(64) }, 'default').jsonBody).toHaveLength(128);
    expect(normalizeMessage({ title: 't', jsonBody: JSON.stringify({ s: '[{'.repeat(100) + '\\"' }) }, 'default').jsonBody).toBeDefined();
  });

  it('refuses a message over the size limit with ERR_ELMAH_TOO_LARGE', () => {
    const data = Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: 'v'.repeat(8000) }));
    expect(() => normalizeMessage({ title: 'x', data }, 'default')).toThrow(
      expect.objectContaining({ code: 'ERR_ELMAH_TOO_LARGE', status: 413 }),
    );
    expect(JSON.stringify(data).length).toBeGreaterThan(MAX_MESSAGE_BYTES);
  });
});

describe('ids', () => {
  it('are time-ordered and monotonic within a millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => newMessageId(4_000_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
    expect(messageIdTime(ids[0]!)).toBe(4_000_000_000_000);
  });
});

describe('fingerprint', () => {
  const stack = (line: number, dir: string) =>
    `TypeError: x is undefined\n    at load (${dir}/src/orders.js:${line}:7)\n    at Layer.handle (${dir}/node_modules/express/lib/router/layer.js:95:5)\n    at node:internal/process/task_queues:95:5`;

  it('ignores line numbers, library frames and the deploy folder', () => {
    expect(computeFingerprint('TypeError', stack(10, '/srv/a'))).toBe(computeFingerprint('TypeError', stack(99, '/home/b')));
  });

  it('differs by type and by in-app function', () => {
    expect(computeFingerprint('TypeError', stack(10, '/a'))).not.toBe(computeFingerprint('RangeError', stack(10, '/a')));
    expect(computeFingerprint('TypeError', stack(10, '/a'))).not.toBe(
      computeFingerprint('TypeError', stack(10, '/a').replace('load', 'save')),
    );
  });

  it('folds numbers in titles when there is no stack', () => {
    expect(computeFingerprint('string', undefined, 'order 41 missing')).toBe(computeFingerprint('string', undefined, 'order 42 missing'));
  });
});

describe('keys', () => {
  it('makes keys of the documented shape and keeps only a hash', () => {
    const { key, record } = createKey({ name: 'w' });
    expect(key).toMatch(KEY_PATTERN);
    expect(key).toMatch(/^elmah_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$/);
    const { id, secret } = parseKey(key);
    expect(record).toMatchObject({ id, permissions: ['messages_write'], logs: [], hash: hashSecret(secret) });
    expect(JSON.stringify(record)).not.toContain(secret);
  });

  it('refuses an expiry that is not a date with ERR_ELMAH_KEY_EXPIRY', () => {
    expect(() => createKey({ name: 'w', expires: '30d' })).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_KEY_EXPIRY', status: 400 }));
    expect(createKey({ name: 'w', expires: '2027-01-31' }).record.expires).toBe('2027-01-31T00:00:00.000Z');
  });

  it('parses permissions and durations', () => {
    expect(parsePermissions('messages_read, messages_write,messages_read')).toEqual(['messages_write', 'messages_read']);
    expect(() => parsePermissions('messages_admin')).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_PERMISSION_NAME', status: 400 }));
    expect(() => parsePermissions([' ', ''])).toThrow(
      expect.objectContaining({ code: 'ERR_ELMAH_PERMISSION_NAME', message: 'No permission given.' }),
    );
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('soon')).toBeUndefined();
  });
});
