// The dotenv reader/writer behind `init --env-file`: values read as dotenv does, only our lines change, 0600 for new files.
import { chmodSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatValue, getEnvValue, readEnvFile, setEnvValues, writeEnvFile } from '../../src/cli/env-file';
import { removeTempDir, tempDir } from '../helpers/run-cli';

describe('getEnvValue', () => {
  const text = [
    '# comment ELMAH_WRITE_KEY=nope',
    'OTHER=1',
    '  export ELMAH_READ_KEY = "elmah_a_b"  ',
    "ELMAH_STORE='sqlite:data/x.db'",
    'ELMAH_LOG=shop # the log',
    'ELMAH_WRITE_KEY=first',
    'ELMAH_WRITE_KEY=second',
    'QUOTED="a \\"b\\"\\nc"',
  ].join('\n');

  it('reads bare, quoted, exported and commented values; the last assignment wins', () => {
    expect(getEnvValue(text, 'ELMAH_READ_KEY')).toBe('elmah_a_b');
    expect(getEnvValue(text, 'ELMAH_STORE')).toBe('sqlite:data/x.db');
    expect(getEnvValue(text, 'ELMAH_LOG')).toBe('shop');
    expect(getEnvValue(text, 'ELMAH_WRITE_KEY')).toBe('second');
    expect(getEnvValue(text, 'QUOTED')).toBe('a "b"\nc');
    expect(getEnvValue(text, 'MISSING')).toBeUndefined();
  });
});

describe('setEnvValues', () => {
  it('replaces our lines in place and keeps comments, order, blank lines and other variables', () => {
    const before = '# app settings\nPORT=3000\n\nexport ELMAH_WRITE_KEY=old # keep?\nDATABASE_URL=postgres://x\n';
    const after = setEnvValues(before, { ELMAH_WRITE_KEY: 'elmah_new', ELMAH_READ_KEY: 'elmah_r' });
    expect(after).toBe(
      '# app settings\nPORT=3000\n\nexport ELMAH_WRITE_KEY=elmah_new\nDATABASE_URL=postgres://x\nELMAH_READ_KEY=elmah_r\n',
    );
  });

  it('keeps CRLF line endings and adds a final newline', () => {
    expect(setEnvValues('A=1\r\nB=2', { B: '3', C: '4' })).toBe('A=1\r\nB=3\r\nC=4\r\n');
    expect(setEnvValues('', { A: '1' })).toBe('A=1\n');
  });

  it('does not touch variables whose names merely contain ours', () => {
    expect(setEnvValues('MY_ELMAH_STORE=x\nELMAH_STORE_OLD=y\n', { ELMAH_STORE: 'memory:' })).toBe(
      'MY_ELMAH_STORE=x\nELMAH_STORE_OLD=y\nELMAH_STORE=memory:\n',
    );
  });

  it('quotes values that need it, and they read back unchanged', () => {
    expect(formatValue('sqlite:/srv/app/.elmah/elmah.db')).toBe('sqlite:/srv/app/.elmah/elmah.db');
    for (const value of ['with space', 'hash #x', 'quote " and \\ back', 'line\nbreak']) {
      expect(getEnvValue(setEnvValues('', { V: value }), 'V')).toBe(value);
    }
  });
});

describe('writeEnvFile', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir('elmah-env-')));
  afterEach(() => removeTempDir(dir));

  it('creates a new file with mode 0600', () => {
    const path = join(dir, '.env');
    expect(writeEnvFile(path, { ELMAH_WRITE_KEY: 'w' })).toEqual({ created: true, mode: 0o600 });
    expect(readFileSync(path, 'utf8')).toBe('ELMAH_WRITE_KEY=w\n');
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('rewrites an existing file keeping its other lines and its mode, leaving no temporary file', () => {
    const path = join(dir, '.env');
    writeFileSync(path, '# mine\nA=1\nELMAH_READ_KEY=old\n');
    chmodSync(path, 0o640);
    expect(writeEnvFile(path, { ELMAH_READ_KEY: 'new' })).toEqual({ created: false, mode: 0o640 });
    expect(readFileSync(path, 'utf8')).toBe('# mine\nA=1\nELMAH_READ_KEY=new\n');
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['.env']);
  });

  it('follows a symlink and updates the real file', () => {
    const real = join(dir, 'real.env');
    writeFileSync(real, 'A=1\n');
    symlinkSync(real, join(dir, '.env'));
    writeEnvFile(join(dir, '.env'), { B: '2' });
    expect(readFileSync(real, 'utf8')).toBe('A=1\nB=2\n');
  });

  it('fails with ERR_ELMAH_CLI when the folder does not exist', () => {
    expect(() => writeEnvFile(join(dir, 'missing', '.env'), { A: '1' })).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_CLI' }));
    expect(readEnvFile(join(dir, 'missing', '.env'))).toBeUndefined();
  });
});
