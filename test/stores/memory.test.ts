// The memory backend runs the shared conformance suite, plus its own bound.
import { MemoryStore } from '../../src/stores/memory';
import { makeMessage } from '../helpers/messages';
import { storeConformance } from './conformance';

storeConformance('memory', async () => new MemoryStore());

describe('MemoryStore bound', () => {
  it('keeps at most maxMessages per log, dropping the oldest', async () => {
    const store = new MemoryStore({ maxMessages: 3 });
    const ms = Array.from({ length: 5 }, () => makeMessage());
    await store.append(ms);
    const r = await store.search({});
    expect(r.messages.map((m) => m.id)).toEqual(
      ms
        .slice(2)
        .map((m) => m.id)
        .reverse(),
    );
    expect((await store.groups({})).groups.reduce((n, g) => n + g.count, 0)).toBe(3);
  });
});
