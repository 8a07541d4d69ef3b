// The one permission check: what it refuses, with which code and words, and what it lets through.
import { isElmahError } from '../../src/model/errors';
import {
  coversLog,
  hasPermission,
  parsePermissions,
  requireEveryLog,
  requireLog,
  requirePermission,
  type KeyGrants,
} from '../../src/model/permissions';

const writer: KeyGrants = { id: 'w1', permissions: ['messages_write'], logs: [] };
const billingReader: KeyGrants = { id: 'r1', permissions: ['messages_read', 'messages_delete'], logs: ['billing'] };

function refusal(fn: () => void): { code: string; message: string; help: string } {
  try {
    fn();
  } catch (err) {
    if (isElmahError(err)) return { code: err.code, message: err.message, help: err.help ?? '' };
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('permissions', () => {
  it('lets a key through that carries one of the permissions and covers the log', () => {
    expect(() => requirePermission(writer, 'messages_write', 'anything')).not.toThrow();
    expect(() => requirePermission(billingReader, ['messages_write', 'messages_read'], 'billing')).not.toThrow();
    expect(hasPermission(billingReader, 'messages_delete')).toBe(true);
    expect(coversLog(writer, 'x')).toBe(true);
    expect(coversLog(billingReader, 'shop')).toBe(false);
  });

  it('refuses a missing permission with ERR_ELMAH_PERMISSION, naming what the key has and how to get one', () => {
    const r = refusal(() => requirePermission(writer, 'messages_read'));
    expect(r.code).toBe('ERR_ELMAH_PERMISSION');
    expect(r.message).toBe('API key w1 lacks messages_read; it has messages_write.');
    expect(r.help).toContain('--permissions messages_read');
    expect(refusal(() => requirePermission({ ...writer, permissions: [] }, ['messages_read', 'logs_read'])).message).toBe(
      'API key w1 lacks messages_read or logs_read; it has no permissions.',
    );
  });

  it('refuses another log with the same code, and takes the caller’s prefix and advice', () => {
    const r = refusal(() =>
      requirePermission(billingReader, 'messages_read', 'shop', { prefix: 'errorViewer(): ', help: 'Pin the viewer.' }),
    );
    expect(r).toEqual({
      code: 'ERR_ELMAH_PERMISSION',
      message: 'errorViewer(): API key r1 is limited to log(s) billing; not "shop".',
      help: 'Pin the viewer.',
    });
    expect(refusal(() => requireLog(billingReader, 'shop')).help).toBe('Use a key for this log, or one without a log limit.');
  });

  it('refuses an act on every log to a key limited to some', () => {
    expect(() => requireEveryLog(writer, 'a deployment for every log')).not.toThrow();
    expect(refusal(() => requireEveryLog(billingReader, 'a deployment for every log'))).toMatchObject({
      code: 'ERR_ELMAH_PERMISSION',
      message: 'API key r1 is limited to log(s) billing; a deployment for every log needs a key without a log limit.',
    });
  });

  it('parses permission lists and rejects unknown names', () => {
    expect(parsePermissions('messages_read, messages_write,messages_read')).toEqual(['messages_write', 'messages_read']);
    expect(refusal(() => parsePermissions('messages_admin')).message).toBe('Unknown permission "messages_admin".');
  });
});
