// Deployments as sent: what is accepted, completed and refused (with every field error at once).
import { normalizeDeployment } from '../../src/model/deployment';
import { refusal } from '../helpers/refusal';

const now = new Date('2026-03-01T12:00:00.000Z');

function problems(input: unknown): { code: string; fields: string[] } {
  return refusal(() => normalizeDeployment(input, now));
}

describe('normalizeDeployment', () => {
  it('takes the elmah.io v3 body, with logId as the log', () => {
    const d = normalizeDeployment(
      {
        version: ' 1.4.2 ',
        description: 'Fixes checkout',
        userName: 'Ada',
        userEmail: 'ada@example.test',
        logId: 'shop',
        created: '2026-03-01T11:00:00+01:00',
      },
      now,
    );
    expect(d).toMatchObject({
      version: '1.4.2',
      description: 'Fixes checkout',
      userName: 'Ada',
      userEmail: 'ada@example.test',
      log: 'shop',
      created: '2026-03-01T10:00:00.000Z',
    });
    expect(d.id).toMatch(/^[0-9A-Z]{26}$/);
  });

  it('defaults created to now and leaves the log out for every log', () => {
    expect(normalizeDeployment({ version: 'abc123' }, now)).toMatchObject({
      version: 'abc123',
      created: now.toISOString(),
      log: undefined,
    });
  });

  it('refuses with ERR_ELMAH_INVALID_DEPLOYMENT, listing every bad field', () => {
    expect(problems({})).toEqual({ code: 'ERR_ELMAH_INVALID_DEPLOYMENT', fields: ['version'] });
    expect(problems({ version: 7, userEmail: 'nobody', logId: '../etc', created: 'yesterday', id: 'a b' }).fields.sort()).toEqual([
      'created',
      'id',
      'logId',
      'userEmail',
      'version',
    ]);
    expect(problems({ version: '1\n2' }).fields).toEqual(['version']);
    expect(problems({ version: '1', description: 'x'.repeat(4001) }).fields).toEqual(['description']);
    expect(problems({ version: '1', created: '2026-03-01T12:06:00Z' }).fields).toEqual(['created']);
    expect(problems(null).code).toBe('ERR_ELMAH_INVALID_DEPLOYMENT');
    expect(problems(['1.0']).code).toBe('ERR_ELMAH_INVALID_DEPLOYMENT');
  });
});
