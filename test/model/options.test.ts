// Option checking: unknown names with suggestions, wrong kinds, bounds, and the missing-call detector.
import { didYouMean, looksLikeExpressCall, validateOptions, type OptionSchema } from '../../src/model/options';

interface Opts {
  store?: string;
  size?: number;
  access?: string;
  onError?: () => void;
}
const schema: OptionSchema<Opts> = {
  store: { kinds: ['string'] },
  size: { kinds: ['number'], min: 1, max: 100 },
  access: { kinds: ['string'], oneOf: ['local', 'key'] },
  onError: { kinds: ['function'] },
};

describe('validateOptions', () => {
  it('accepts valid options and undefined values', () => {
    expect(validateOptions('f', { store: 'memory:', size: 5, access: undefined }, schema)).toEqual({
      store: 'memory:',
      size: 5,
      access: undefined,
    });
    expect(validateOptions('f', undefined, schema)).toEqual({});
  });

  it('names an unknown option and suggests the closest', () => {
    expect(() => validateOptions('errorLogger', { stor: 'x' }, schema)).toThrow(
      expect.objectContaining({
        code: 'ERR_ELMAH_UNKNOWN_OPTION',
        name: 'ElmahConfigError',
        message: 'errorLogger(): unknown option "stor" (did you mean "store"?).',
      }),
    );
    expect(() => validateOptions('f', { zzzzzzzz: 1 }, schema)).toThrow(/unknown option "zzzzzzzz"\.$/);
  });

  it('rejects wrong kinds, values outside bounds and unknown choices', () => {
    expect(() => validateOptions('f', { size: '5' }, schema)).toThrow(
      expect.objectContaining({ code: 'ERR_ELMAH_OPTION_TYPE', message: 'f(): option "size" must be number, got string.' }),
    );
    expect(() => validateOptions('f', { size: 0 }, schema)).toThrow(/from 1 to 100, got 0/);
    expect(() => validateOptions('f', { size: NaN }, schema)).toThrow(/got NaN/);
    expect(() => validateOptions('f', { access: 'public' }, schema)).toThrow(/one of "local", "key"/);
    expect(() => validateOptions('f', 'memory:', schema)).toThrow(/takes an options object, got string/);
  });
});

describe('helpers', () => {
  it('suggests only close names', () => {
    expect(didYouMean('captureUncaugt', ['captureUncaught', 'store'])).toBe('captureUncaught');
    expect(didYouMean('x', ['captureUncaught'])).toBeUndefined();
  });

  it('recognises Express calling a factory as middleware', () => {
    const req = { method: 'GET', headers: {} };
    expect(looksLikeExpressCall([req, {}, () => undefined])).toBe(true);
    expect(looksLikeExpressCall([new Error('x'), req, {}, () => undefined])).toBe(true);
    expect(looksLikeExpressCall([{ store: 'memory:' }])).toBe(false);
  });
});
