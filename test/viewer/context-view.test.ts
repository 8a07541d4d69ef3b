// What the detail page shows of a message's capture context, and that it is escaped in the HTML.
import request from 'supertest';
import { contextView, jsonLines } from '../../src/viewer/context-view';
import { makeMessage } from '../helpers/messages';
import { createViewerApp } from '../helpers/viewer-app';

describe('contextView', () => {
  it('numbers source lines and marks the frame line, and times breadcrumbs before the error', () => {
    const m = makeMessage({
      dateTime: '2026-01-01T00:00:02.000Z',
      sourceContext: [{ file: '/app/a.ts', line: 11, startLine: 10, lines: ['a', 'b', 'c'] }],
      breadcrumbs: [
        { dateTime: '2026-01-01T00:00:00.500Z', severity: 'Debug', action: 'Log', message: 'x' },
        { dateTime: '2026-01-01T00:00:01.880Z', severity: 'Information', action: 'Log', message: 'y' },
      ],
    });
    const v = contextView(m);
    expect(v.source[0]!.lines).toEqual([
      { number: 10, text: 'a', current: false },
      { number: 11, text: 'b', current: true },
      { number: 12, text: 'c', current: false },
    ]);
    expect(v.breadcrumbs.map((b) => b.before)).toEqual(['-1.5 s', '-120 ms']);
    expect(v.thrownNonError).toBe(false);
  });

  it('notes a thrown non-Error only when no stack was recorded', () => {
    expect(contextView(makeMessage({ type: 'string', detail: 'string: "out of stock"' })).thrownNonError).toBe(true);
    expect(contextView(makeMessage({ type: 'object', detail: 'object: {"code":1}' })).thrownNonError).toBe(true);
    expect(contextView(makeMessage({ type: 'TypeError', detail: 'TypeError: x' })).thrownNonError).toBe(false);
    expect(contextView(makeMessage({ type: 'string', detail: 'string: x\n    at f (/app/a.js:1:1)' })).thrownNonError).toBe(false);
  });

  it('turns a JSON body into typed lines, marking the cuts capture made', () => {
    const { lines } = jsonLines('{"q":2,"s":"2","list":["[… 3 more items]"],"e":{},"n":null}')!;
    expect(lines.map((l) => [l.depth, l.key, l.kind, l.text, l.comma])).toEqual([
      [0, undefined, 'open', '{', false],
      [1, 'q', 'number', '2', true],
      [1, 's', 'string', '"2"', true],
      [1, 'list', 'open', '[', false],
      [2, undefined, 'mark', '"[… 3 more items]"', false],
      [1, undefined, 'close', ']', true],
      [1, 'e', 'open', '{}', true],
      [1, 'n', 'null', 'null', false],
      [0, undefined, 'close', '}', false],
    ]);
    expect(jsonLines('not json')).toBeUndefined();
  });

  it('shows a JSON body nested past the kept depth with a mark there, without walking deeper', () => {
    const { lines } = jsonLines('['.repeat(3000) + ']'.repeat(3000))!;
    const marks = lines.filter((l) => l.kind === 'mark');
    expect(marks.map((l) => [l.depth, l.text])).toEqual([[16, '"[Filtered: too deep]"']]);
    expect(lines).toHaveLength(16 * 2 + 1);
    expect(Math.max(...lines.map((l) => l.depth))).toBe(16);
  });
});

describe('detail page', () => {
  it('renders source lines, breadcrumbs and the JSON body escaped', async () => {
    const payload = '<script>alert(1)</script>';
    const t = await createViewerApp({
      count: 0,
      extra: [
        {
          id: '01JCTX00000000000000000001',
          sourceContext: [{ file: `/app/${payload}.ts`, line: 1, startLine: 1, lines: [payload] }],
          breadcrumbs: [
            {
              dateTime: new Date(Date.now() - 61_000).toISOString(),
              severity: 'Warning',
              action: payload,
              message: payload,
              data: [{ key: payload, value: payload }],
            },
          ],
          jsonBody: JSON.stringify({ [payload]: payload, quantity: 2 }),
        },
      ],
    });
    const res = await request(t.app).get('/elmah.axd/detail/01JCTX00000000000000000001?log=default').expect(200);
    expect(res.text).not.toContain(payload);
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.text).toContain('class="current" aria-current="true"');
    expect(res.text).toContain('<span class="json-number" title="number">2</span>');
    expect(res.text).toMatch(/<li class="crumb crumb-warning">/);
  });

  it('renders a stored JSON body nested as deep as intake allows, with a mark past the kept depth', async () => {
    const t = await createViewerApp({
      count: 0,
      extra: [{ id: '01JCTX00000000000000000002', jsonBody: '{"a":'.repeat(64) + '"bottom"' + '}'.repeat(64) }],
    });
    const res = await request(t.app).get('/elmah.axd/detail/01JCTX00000000000000000002?log=default').expect(200);
    expect(res.text).toContain('[Filtered: too deep]');
    expect(res.text).not.toContain('bottom');
  });
});
