// Every error code is documented in docs/errors.md, and every code the source mentions is a known one.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ElmahError, ERROR_CODES, isKeyRefusal } from '../../src/model/errors';

const root = join(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('error codes', () => {
  const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');

  it.each(ERROR_CODES.map((c) => [c]))('%s has a section with cause and fix in docs/errors.md', (code) => {
    const section = doc.split(/^## /m).find((s) => s.startsWith(`${code}\n`));
    expect(section).toBeDefined();
    expect(section).toMatch(/\*\*Cause:\*\*/);
    expect(section).toMatch(/\*\*Fix:\*\*/);
  });

  it.each(ERROR_CODES.map((c) => [c]))('%s links to its own section of docs/errors.md', (code) => {
    const err = new ElmahError(code, 'x', { help: 'Do y.' });
    const [page, anchor] = err.docs.split('#');
    expect(page).toBe('docs/errors.md');
    // GitHub's anchor for a heading "## ERR_ELMAH_X" is the heading in lower case.
    expect(doc).toContain(`\n## ${anchor!.toUpperCase()}\n`);
    expect(anchor).toBe(code.toLowerCase());
    expect(err.toJSON().error).toEqual({ code, message: 'x', help: 'Do y.', docs: err.docs });
  });

  it('lists no code in the source that ERROR_CODES lacks', () => {
    const used = new Set<string>();
    for (const file of sourceFiles(join(root, 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/ERR_ELMAH_[A-Z_]+/g)) if (!m[0].endsWith('_')) used.add(m[0]);
    }
    // A prefix such as ERR_ELMAH_KEY (matched with startsWith) names a family of listed codes.
    const unknown = [...used].filter((c) => !ERROR_CODES.some((known) => known === c || known.startsWith(`${c}_`)));
    expect(unknown).toEqual([]);
  });
});

describe('isKeyRefusal', () => {
  it('is true for a missing or failing key only, not for other key codes or other errors', () => {
    expect(isKeyRefusal(new ElmahError('ERR_ELMAH_KEY_MISSING', 'no key'))).toBe(true);
    expect(isKeyRefusal(new ElmahError('ERR_ELMAH_KEY_INVALID', 'revoked'))).toBe(true);
    for (const code of ['ERR_ELMAH_KEY_EXISTS', 'ERR_ELMAH_KEY_TOO_BROAD', 'ERR_ELMAH_KEY_NOT_FOUND', 'ERR_ELMAH_PERMISSION'] as const) {
      expect({ code, refusal: isKeyRefusal(new ElmahError(code, 'x')) }).toEqual({ code, refusal: false });
    }
    expect(isKeyRefusal(new Error('ERR_ELMAH_KEY_INVALID'))).toBe(false);
    expect(isKeyRefusal(null)).toBe(false);
  });
});
